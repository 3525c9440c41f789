"""A partner's clients in Redis, under `spa:<city>:booking:`.

client:<id>                      the profile as JSON (the free-text notes sealed), or,
                                 once erased, a tombstone {id, owner, erased_at}
client:<id>:intake               sorted set: sealed health answers, scored by when given
clients:email:<owner>:<digest>   the client id for an email at one partner; the key names
                                 a SHA-256 of the address, never the address
intakes                          sorted set: client id -> when its oldest answers were
                                 given (what the retention job looks at)
erasures                         list: who erased which client, and when (no personal data)

Health answers and notes are sealed (services/common/vault.py) before they are written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime

import redis

from services.booking.domain import Client, Intake, IntakeRecord, Preferences
from services.common import jsonio
from services.common.clock import Clock
from services.common.redis import key
from services.common.vault import Vault


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class ClientStore:
    def __init__(self, client: redis.Redis, city: str, clock: Clock, vault: Vault):
        self.redis = client
        self.city = city
        self.clock = clock
        self.vault = vault

    def k(self, *parts: str) -> str:
        return key(self.city, "booking", *parts)

    def _email_key(self, owner: str, email: str) -> str:
        return self.k("clients", "email", owner, email_digest(email))

    # profiles

    def add(self, client: Client) -> Client:
        """Store a new client, unless the owner already has one with that email: then
        that one (SET NX on the email: two requests at once make one client)."""
        if not self.redis.set(self._email_key(client.owner, client.email), client.id, nx=True):
            existing = self.find_by_email(client.owner, client.email)
            if existing:
                return existing
            self.redis.set(self._email_key(client.owner, client.email), client.id)
        self.redis.set(self.k("client", client.id), self._encode(client))
        return client

    def get(self, client_id: str) -> Client | None:
        """The client, or None (unknown, or erased)."""
        raw = self.redis.get(self.k("client", client_id))
        return self._decode(raw) if raw else None

    def tombstone(self, client_id: str) -> dict | None:
        """{id, owner, erased_at} of an erased client, else None."""
        raw = self.redis.get(self.k("client", client_id))
        record = json.loads(raw) if raw else None
        return record if record and record.get("erased_at") else None

    def find_by_email(self, owner: str, email: str) -> Client | None:
        client_id = self.redis.get(self._email_key(owner, email))
        return self.get(client_id) if client_id else None

    def save(self, before: Client, after: Client) -> Client | None:
        """Write a changed profile; None when another client of the owner has the new
        email already."""
        if after.email.lower() != before.email.lower():
            if not self.redis.set(self._email_key(after.owner, after.email), after.id, nx=True):
                return None
            self.redis.delete(self._email_key(before.owner, before.email))
        self.redis.set(self.k("client", after.id), self._encode(after))
        return after

    def _encode(self, client: Client) -> str:
        notes = client.preferences.notes
        preferences = replace(client.preferences,
                              notes=self.vault.seal(notes) if notes else None)
        return jsonio.dumps(replace(client, preferences=preferences))

    def _decode(self, raw: str) -> Client | None:
        data = json.loads(raw)
        if data.get("erased_at"):
            return None
        preferences = data["preferences"]
        if preferences.get("notes"):
            preferences["notes"] = self.vault.open(preferences["notes"])
        return Client(**{**data, "preferences": Preferences(**preferences),
                         "created_at": datetime.fromisoformat(data["created_at"]),
                         "updated_at": datetime.fromisoformat(data["updated_at"])})

    # health answers

    def record_intake(self, client_id: str, answers: Intake, at: datetime) -> IntakeRecord:
        sealed = self.vault.seal({"answers": jsonio.shallow(answers), "at": at.isoformat()})
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.k("client", client_id, "intake"), {sealed: at.timestamp()})
        pipe.zadd(self.k("intakes"), {client_id: at.timestamp()}, nx=True)
        pipe.execute()
        return IntakeRecord(answers, at)

    def intakes(self, client_id: str) -> list[IntakeRecord]:
        """Every intake on record, oldest first."""
        return [self._record(sealed)
                for sealed in self.redis.zrange(self.k("client", client_id, "intake"), 0, -1)]

    def _record(self, sealed: str) -> IntakeRecord:
        data = self.vault.open(sealed)
        return IntakeRecord(Intake(**data["answers"]), datetime.fromisoformat(data["at"]))

    def purge_intakes_before(self, cutoff: datetime, limit: int = 100) -> int:
        """Drop answers given before `cutoff`; returns how many went."""
        purged = 0
        for client_id in self.redis.zrangebyscore(self.k("intakes"), "-inf",
                                                  cutoff.timestamp(), start=0, num=limit):
            records = self.k("client", client_id, "intake")
            purged += self.redis.zremrangebyscore(records, "-inf", cutoff.timestamp())
            oldest = self.redis.zrange(records, 0, 0, withscores=True)
            if oldest:
                self.redis.zadd(self.k("intakes"), {client_id: oldest[0][1]})
            else:
                self.redis.zrem(self.k("intakes"), client_id)
        return purged

    # erasure

    def erase(self, client: Client, audit: dict) -> None:
        """Forget the client: profile, answers and email index go in one MULTI; a
        tombstone keeps the id answering as erased; the audit entry says who did it."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.k("client", client.id), json.dumps(
            {"id": client.id, "owner": client.owner, "erased_at": audit["at"]}))
        pipe.delete(self.k("client", client.id, "intake"), self._email_key(
            client.owner, client.email))
        pipe.zrem(self.k("intakes"), client.id)
        pipe.rpush(self.k("erasures"), json.dumps(audit))
        pipe.execute()

    def erasures(self) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.k("erasures"), 0, -1)]

    # key rotation

    def reseal_all(self) -> int:
        """Every sealed value sealed anew with the vault's first key; returns how many."""
        done = 0
        for client_key in self.redis.scan_iter(match=self.k("client", "*"), count=1000):
            done += self._reseal_profile(client_key) if client_key.count(":") == 4 \
                else self._reseal_intakes(client_key)
        return done

    def _reseal_profile(self, client_key: str) -> int:
        data = json.loads(self.redis.get(client_key) or "{}")
        notes = (data.get("preferences") or {}).get("notes")
        if not notes:
            return 0
        data["preferences"]["notes"] = self.vault.reseal(notes)
        self.redis.set(client_key, json.dumps(data))
        return 1

    def _reseal_intakes(self, intake_key: str) -> int:
        if not intake_key.endswith(":intake"):
            return 0
        records = self.redis.zrange(intake_key, 0, -1, withscores=True)
        pipe = self.redis.pipeline(transaction=True)
        for sealed, score in records:
            pipe.zrem(intake_key, sealed)
            pipe.zadd(intake_key, {self.vault.reseal(sealed): score})
        pipe.execute()
        return len(records)
