"""Bearer API keys. Only a SHA-256 of each key is stored: keys are 32 random bytes,
so a fast hash is safe (no dictionary to guess from) and keeps every request cheap.

Roles: `admin` (the whole city) and `partner` (a list of studio ids). Out-of-scope
ids answer 404 (never 403), so a partner cannot probe which ids exist.

Rate limits are token buckets (a burst of at most the per-minute budget, refilled
evenly over the minute, so no window boundary lets twice the budget through): one
per known key, and one per client address for requests without a valid key, so
guessing keys is throttled and writes one bucket per address, never one per guess.
The key lookup and the bucket cost one script: one round trip before every request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from dataclasses import dataclass, field

import redis
from flask import Flask, g, request

from services.common.clock import Clock
from services.common.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from services.common.redis import key

ROLES = ("admin", "partner")

# KEYS[1] the keys hash, KEYS[2] the key's bucket, KEYS[3] the client address's bucket
# ARGV[1] the key id  ARGV[2] now (ms)  ARGV[3] per-minute budget of a key
# ARGV[4] per-minute budget of an address without a valid key
# Returns {the key's record or nil, seconds to wait (0: go ahead)}.
AUTHENTICATE = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
local bucket, budget = KEYS[3], tonumber(ARGV[4])
if record then bucket, budget = KEYS[2], tonumber(ARGV[3]) end
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
return {record, wait}
"""
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/v1/openapi.json")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    studios: frozenset[str] = field(default_factory=frozenset)
    key_id: str = ""  # the hash of its API key: unique, unlike the name, and not secret

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees(self, studio: str) -> bool:
        return self.is_admin or studio in self.studios

    def require_studio(self, studio: str, what: str = "resource") -> None:
        """404 (never 403) for what lies outside the key's studios: ids must not leak."""
        if not self.sees(studio):
            raise NotFound(f"no such {what}")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this route needs an admin key")


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    """Requests per minute: of one API key, and of one client address without one."""

    per_key: int = 600
    per_address: int = 60


class KeyStore:
    def __init__(self, store: redis.Redis, city: str, clock: Clock | None = None):
        self.store = store
        self.keys = key(city, "auth", "keys")
        self.city = city
        self.clock = clock or Clock()
        self._authenticate = store.register_script(AUTHENTICATE)

    def create(self, name: str, role: str, studios: list[str] | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        api_key = f"spa_{role}_{secrets.token_urlsafe(32)}"
        self.register(api_key, name, role, studios or [])
        return api_key

    def register(self, api_key: str, name: str, role: str, studios: list[str]) -> None:
        record = {"name": name, "role": role, "studios": sorted(studios)}
        self.store.hset(self.keys, hash_key(api_key), json.dumps(record))

    def by_ids(self, key_ids: list[str]) -> dict[str, Principal]:
        """The principals of the keys that still exist, by key id (revoked ones are absent)."""
        if not key_ids:
            return {}
        raws = self.store.hmget(self.keys, key_ids)
        found = zip(key_ids, raws, strict=True)
        return {key_id: _principal(raw, key_id) for key_id, raw in found if raw}

    def revoke(self, api_key: str) -> bool:
        return bool(self.store.hdel(self.keys, hash_key(api_key)))

    def authenticate(self, api_key: str, address: str,
                     limits: Limits) -> tuple[Principal | None, int]:
        """The key's principal (None for no key or an unknown one), and the seconds to
        wait when its bucket, or the address's for a caller without a valid key, is
        empty (else 0)."""
        key_id = hash_key(api_key) if api_key else ""
        buckets = [key(self.city, "auth", "rate", "key", key_id[:24]),
                   key(self.city, "auth", "rate", "address", address_bucket(address))]
        raw, wait = self._authenticate(
            keys=[self.keys, *buckets],
            args=[key_id, int(self.clock.epoch() * 1000), limits.per_key,
                  limits.per_address])
        return _principal(raw, key_id), int(wait)


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


def _principal(raw: str | None, key_id: str) -> Principal | None:
    if raw is None:
        return None
    record = json.loads(raw)
    return Principal(record["name"], record["role"], frozenset(record["studios"]), key_id)


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
