"""Bearer API keys. Only a SHA-256 of each key is stored: keys are 32 random bytes,
so a fast hash is safe (no dictionary to guess from) and keeps every request cheap.

Roles: `admin` (the whole city) and `partner` (a list of studio ids). Out-of-scope
ids answer 404 (never 403), so a partner cannot probe which ids exist.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field

import redis
from flask import Flask, g, request

from services.common.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from services.common.redis import key

ROLES = ("admin", "partner")
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


class KeyStore:
    def __init__(self, store: redis.Redis, city: str):
        self.store = store
        self.keys = key(city, "auth", "keys")
        self.city = city

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

    def authenticate(self, api_key: str, per_minute: int) -> tuple[Principal | None, int]:
        """The key's principal and the seconds to wait when it used up this minute's
        budget (else 0), in one round trip: it runs before every request."""
        window = int(time.time() // 60)
        key_id = hash_key(api_key)
        counter = key(self.city, "auth", "rate", key_id[:24], str(window))
        pipe = self.store.pipeline(transaction=False)
        raw, used, _ = pipe.hget(self.keys, key_id).incr(counter).expire(
            counter, 120).execute()
        wait = 60 - int(time.time() % 60) if used > per_minute else 0
        return _principal(raw, key_id), wait


def _principal(raw: str | None, key_id: str) -> Principal | None:
    if raw is None:
        return None
    record = json.loads(raw)
    return Principal(record["name"], record["role"], frozenset(record["studios"]), key_id)


def install_auth(app: Flask, keys: KeyStore, per_minute: int) -> None:
    """Every route but the public ones needs a known key."""

    @app.before_request
    def authenticate():
        if request.path.startswith(PUBLIC_PATHS) or not request.path.startswith("/v1/"):
            return
        api_key = _bearer_token()
        principal, wait = keys.authenticate(api_key, per_minute) if api_key else (None, 0)
        if principal is None:
            raise Unauthenticated()
        if wait:
            raise RateLimited(wait)
        g.principal = principal


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def current_principal() -> Principal:
    return g.principal
