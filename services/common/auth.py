"""Partner accounts and bearer API keys. Only a SHA-256 of each key is stored: keys are
32 random bytes, so a fast hash is safe (no dictionary to guess from) and keeps every
request cheap.

A partner is an account: an id, a name, its studios, and one or more API keys. What a
partner creates (webhook endpoints, clients, idempotency receipts) belongs to the
partner, not to the key it used, so rotating a key loses nothing; revoking the partner
stops every key at once. Admin keys (the whole city) belong to no partner and own
what they create themselves. Out-of-scope ids answer 404 (never 403), so a partner
cannot probe which ids exist.

Rate limits are token buckets (a burst of at most the per-minute budget, refilled
evenly over the minute, so no window boundary lets twice the budget through): one
per known key, and one per client address for requests without a valid key, so
guessing keys is throttled and writes one bucket per address, never one per guess.
The key lookup, its partner and the bucket cost one script: one round trip before
every request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import redis
from flask import Flask, g, request

from services.common.clock import Clock
from services.common.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from services.common.redis import key

ROLES = ("admin", "partner")

# KEYS[1] the keys hash, KEYS[2] the partners hash, KEYS[3] the key's bucket,
# KEYS[4] the client address's bucket
# ARGV[1] the key id  ARGV[2] now (ms)  ARGV[3] per-minute budget of a key
# ARGV[4] per-minute budget of an address without a valid key
# Returns {the key's record or nil, its partner's record or nil, seconds to wait}.
AUTHENTICATE = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
local partner = false
if record then
  local owner = cjson.decode(record).partner
  if type(owner) == 'string' then
    partner = redis.call('HGET', KEYS[2], owner)
    if not partner then record = nil end
  end
end
local bucket, budget = KEYS[4], tonumber(ARGV[4])
if record then bucket, budget = KEYS[3], tonumber(ARGV[3]) end
local now = tonumber(ARGV[2])
local state = redis.call('HMGET', bucket, 'tokens', 'at')
local tokens = tonumber(state[1]) or budget
local at = tonumber(state[2]) or now
tokens = math.min(budget, tokens + (now - at) * budget / 60000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 60 / budget)
end
redis.call('HSET', bucket, 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', bucket, 60000)
-- false, not nil: a nil would end the reply's array there
return {record or false, partner or false, wait}
"""
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/v1/openapi.json")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    studios: frozenset[str] = field(default_factory=frozenset)
    key_id: str = ""  # the hash of its API key: unique, unlike the name, and not secret
    partner: str | None = None  # the partner account the key belongs to

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def owner(self) -> str:
        """Who owns what this caller creates: its partner (rotating a key loses
        nothing), or an admin key itself."""
        return self.partner or self.key_id

    def sees(self, studio: str) -> bool:
        return self.is_admin or studio in self.studios

    def sees_own(self, studios: str | Iterable[str], owner: str | None = None) -> bool:
        """Whether the caller may see something at `studios` (one, or any of several)
        owned by `owner`: an admin sees the whole city's; a partner only what lies at
        one of its studios and, unless `owner` is None (owned by nobody: a studio's
        notifications), is its own. What has no owner ("", made before partner
        accounts) belongs to its studio's partners."""
        if self.is_admin:
            return True
        at = (studios,) if isinstance(studios, str) else studios
        return any(studio in self.studios for studio in at) and owner in (None, "",
                                                                          self.owner)

    def require_visible(self, studios: str | Iterable[str], owner: str | None,
                        what: str = "resource") -> None:
        """404 (never 403) unless the caller `sees_own` it: ids must not leak, not even
        to another partner of the same studio."""
        if not self.sees_own(studios, owner):
            raise NotFound(f"no such {what}")

    def require_studio(self, studio: str, what: str = "resource") -> None:
        """404 (never 403) for what lies outside the key's studios: ids must not leak."""
        self.require_visible(studio, None, what)

    def require_owner(self, owner: str, what: str = "resource") -> None:
        """404 unless the caller owns it (an admin sees the whole city's)."""
        if not (self.is_admin or owner == self.owner):
            raise NotFound(f"no such {what}")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this route needs an admin key")


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    studios: tuple[str, ...]
    keys: int = 0  # how many live API keys it has


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    """Requests per minute: of one API key, and of one client address without one."""

    per_key: int = 600
    per_address: int = 60


class KeyStore:
    """Partner accounts and API keys (`spa:{<city>:auth}:`): the keys hash maps a key's
    hash to {name, role, partner}; the partners hash maps a partner id to {name,
    studios}. A key whose partner is gone authenticates as nobody."""

    def __init__(self, store: redis.Redis, city: str, clock: Clock | None = None):
        self.store = store
        self.keys = key(city, "auth", "keys")
        self.partners = key(city, "auth", "partners")
        self.city = city
        self.clock = clock or Clock()
        self._authenticate = store.register_script(AUTHENTICATE)

    # keys

    def create(self, name: str, role: str, studios: list[str] | None = None) -> str:
        """A new key: an admin key, or (role partner) a partner of its own with its first
        key, as `spa keys create` made them before partner accounts."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        if role == "partner":
            return self.create_partner(name, studios or [])[1]
        return self._new_key(name, "admin", None)

    def _new_key(self, name: str, role: str, partner: str | None) -> str:
        api_key = f"spa_{role}_{secrets.token_urlsafe(32)}"
        self.register(api_key, name, role, partner)
        return api_key

    def register(self, api_key: str, name: str, role: str, partner: str | None = None) -> None:
        record = {"name": name, "role": role, "partner": partner}
        self.store.hset(self.keys, hash_key(api_key), json.dumps(record))

    def revoke(self, api_key: str) -> bool:
        return bool(self.store.hdel(self.keys, hash_key(api_key)))

    def knows(self, api_key: str) -> bool:
        return bool(api_key) and bool(self.store.hexists(self.keys, hash_key(api_key)))

    # partners

    def create_partner(self, name: str, studios: list[str]) -> tuple[Partner, str]:
        """A new partner account and its first API key (shown this once)."""
        partner = Partner(f"pt_{secrets.token_urlsafe(9)}", name, tuple(sorted(studios)))
        record = {"name": partner.name, "studios": list(partner.studios)}
        self.store.hset(self.partners, partner.id, json.dumps(record))
        return replace(partner, keys=1), self.add_key(partner.id)

    def add_key(self, partner_id: str) -> str:
        partner = self.partner(partner_id)
        if partner is None:
            raise KeyError(partner_id)
        return self._new_key(partner.name, "partner", partner.id)

    def partner(self, partner_id: str) -> Partner | None:
        return next(iter(self.all_partners([partner_id])), None)

    def all_partners(self, ids: list[str] | None = None) -> list[Partner]:
        records = self.store.hgetall(self.partners)
        counts: dict[str, int] = {}
        for raw in self.store.hvals(self.keys):
            owner = json.loads(raw).get("partner")
            counts[owner] = counts.get(owner, 0) + 1
        return [_partner(pid, records[pid], counts.get(pid, 0))
                for pid in sorted(records) if ids is None or pid in ids]

    def revoke_partner(self, partner_id: str) -> bool:
        """Every key of the partner stops at once; what it owns receives nothing more."""
        keys = [kid for kid, raw in self.store.hgetall(self.keys).items()
                if json.loads(raw).get("partner") == partner_id]
        pipe = self.store.pipeline(transaction=True)
        pipe.hdel(self.partners, partner_id)
        if keys:
            pipe.hdel(self.keys, *keys)
        return bool(pipe.execute()[0])

    def owners(self, owner_ids: list[str]) -> dict[str, Principal]:
        """The principals behind owner ids (partners, or admin keys) that still exist:
        what a partner's webhooks may see now, for instance."""
        if not owner_ids:
            return {}
        found = {}
        partners = self.store.hmget(self.partners, owner_ids)
        keys = self.store.hmget(self.keys, owner_ids)
        for owner, partner, key_record in zip(owner_ids, partners, keys, strict=True):
            if partner:
                found[owner] = _partner_principal(owner, json.loads(partner), "")
            elif key_record:  # owned by a key: an admin's, or one from before partners
                via = json.loads(key_record).get("partner")
                principal = _principal(key_record, self.store.hget(self.partners, via)
                                       if via else None, owner)
                if principal:
                    found[owner] = principal
        return found

    def adopt_partnerless_keys(self) -> dict[str, str]:
        """Keys made before partner accounts (a partner key with its own studios) each
        become a partner of their own; returns key id -> partner id (`spa init`)."""
        moved = {}
        for key_id, raw in self.store.hgetall(self.keys).items():
            record = json.loads(raw)
            if record["role"] == "partner" and not record.get("partner"):
                partner = Partner(f"pt_{secrets.token_urlsafe(9)}", record["name"],
                                  tuple(sorted(record.get("studios") or [])))
                self.store.hset(self.partners, partner.id, json.dumps(
                    {"name": partner.name, "studios": list(partner.studios)}))
                record = {"name": record["name"], "role": "partner", "partner": partner.id}
                self.store.hset(self.keys, key_id, json.dumps(record))
                moved[key_id] = partner.id
        return moved

    def partner_of_keys(self) -> dict[str, str]:
        """Key id -> partner id, for every key of a partner (`spa init` moves what a
        key owned to its partner)."""
        return {key_id: record["partner"] for key_id, raw in self.store.hgetall(self.keys).items()
                if (record := json.loads(raw)).get("partner")}

    # every request

    def authenticate(self, api_key: str, address: str,
                     limits: Limits) -> tuple[Principal | None, int]:
        """The key's principal (None for no key, an unknown or revoked one), and the
        seconds to wait when its bucket, or the address's for a caller without a valid
        key, is empty (else 0)."""
        key_id = hash_key(api_key) if api_key else ""
        buckets = [key(self.city, "auth", "rate", "key", key_id[:24]),
                   key(self.city, "auth", "rate", "address", address_bucket(address))]
        raw, partner, wait = self._authenticate(
            keys=[self.keys, self.partners, *buckets],
            args=[key_id, int(self.clock.epoch() * 1000), limits.per_key,
                  limits.per_address])
        return _principal(raw, partner, key_id), int(wait)


def address_bucket(address: str) -> str:
    """The bucket of a client address: its IPv4 address, or its IPv6 /64 (one host
    holds a whole /64, so per address would be one bucket per guess)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def _principal(raw: str | None, partner: str | None, key_id: str) -> Principal | None:
    if raw is None:
        return None
    record = json.loads(raw)
    if record["role"] == "admin":
        return Principal(record["name"], "admin", key_id=key_id)
    if partner is None:  # a key from before partner accounts: its own scope
        return Principal(record["name"], "partner", frozenset(record.get("studios") or ()),
                         key_id)
    return _partner_principal(record["partner"], json.loads(partner), key_id)


def _partner_principal(partner_id: str, record: dict, key_id: str) -> Principal:
    return Principal(record["name"], "partner", frozenset(record["studios"]), key_id,
                     partner_id)


def _partner(partner_id: str, raw: str, keys: int) -> Partner:
    record = json.loads(raw)
    return Partner(partner_id, record["name"], tuple(record["studios"]), keys)


def install_auth(app: Flask, keys: KeyStore, limits: Limits) -> None:
    """Every route but the public ones needs a known key, within its rate limit."""

    @app.before_request
    def authenticate():
        if (request.path.startswith(PUBLIC_PATHS) or not request.path.startswith("/v1/")
                or request.method == "OPTIONS"):  # which methods a path has is no secret
            return
        principal, wait = keys.authenticate(_bearer_token(), request.remote_addr or "",
                                            limits)
        if wait:
            raise RateLimited(wait)
        if principal is None:
            raise Unauthenticated()
        g.principal = principal


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def current_principal() -> Principal:
    return g.principal
