"""A partner's clients in Redis, under `spa:{<city>:booking}:`.

client:<id>                      the profile as JSON (the free-text notes sealed), or,
                                 once erased, a tombstone {id, owner, erased_at}
client:<id>:erasing              set while an erasure runs (writes to the client stop)
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
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import redis

from services.booking.domain import Client, Intake, IntakeRecord, Preferences
from services.common import jsonio
from services.common.clock import Clock
from services.common.redis import key, rewrite
from services.common.vault import Vault

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ERASING_TTL_S = 300  # an erasure that died midway lets the client be erased again after

# Store a new client unless its owner has one with that email, in one step: two
# requests at once make one client. KEYS[1] the email index  KEYS[2] the profile
# ARGV[1] the new id  ARGV[2] the profile. Returns the id of the client kept.
ADD = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return ARGV[1]
"""


# Record health answers, unless the client is gone or going. KEYS[1] the profile
# KEYS[2] its erasing mark  KEYS[3] its intake records  KEYS[4] the retention index
# ARGV[1] the sealed answers  ARGV[2] when given (epoch)  ARGV[3] the client id
RECORD_INTAKE = """
local profile = redis.call('GET', KEYS[1])
if not profile or redis.call('EXISTS', KEYS[2]) == 1
    or cjson.decode(profile).erased_at then
  return 0
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[3])
return 1
"""


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class Saved:
    """What `ClientStore.save` says."""

    OK, CHANGED, EMAIL_TAKEN = "ok", "changed", "email_taken"


class ClientStore:
    def __init__(self, client: redis.Redis, city: str, clock: Clock, vault: Vault):
        self.redis = client
        self.city = city
        self.clock = clock
        self.vault = vault
        self._add = client.register_script(ADD)
        self._record_intake = client.register_script(RECORD_INTAKE)

    def k(self, *parts: str) -> str:
        return key(self.city, "booking", *parts)

    def _email_key(self, owner: str, email: str) -> str:
        return self.k("clients", "email", owner, email_digest(email))

    # profiles

    def add(self, client: Client) -> Client:
        """Store a new client, unless the owner already has one with that email: then
        that one."""
        kept = self._add(keys=[self._email_key(client.owner, client.email),
                               self.k("client", client.id)],
                         args=[client.id, self._encode(client)])
        return client if kept == client.id else self.get(kept) or client

    def get(self, client_id: str) -> Client | None:
        """The client, or None (unknown, erased, or not an id at all)."""
        raw = self.redis.get(self.k("client", client_id)) if CLIENT_ID.match(client_id) \
            else None
        return self._decode(raw) if raw else None

    def tombstone(self, client_id: str) -> dict | None:
        """{id, owner, erased_at} of an erased client, else None."""
        raw = self.redis.get(self.k("client", client_id)) if CLIENT_ID.match(client_id) \
            else None
        record = json.loads(raw) if raw else None
        return record if record and record.get("erased_at") else None

    def begin_erasure(self, client_id: str) -> bool:
        """Mark the client as being erased, so that nothing writes to it meanwhile;
        False when another erasure of it is running."""
        return bool(self.redis.set(self.k("client", client_id, "erasing"), "1", nx=True,
                                   ex=ERASING_TTL_S))

    def end_erasure(self, client_id: str) -> None:
        self.redis.delete(self.k("client", client_id, "erasing"))

    def forgotten(self, client_id: str) -> bool:
        """Being erased, or erased in the last ERASING_TTL_S (the mark stays that long
        after: a booking that started before the erasure ends well within it)."""
        return bool(self.redis.exists(self.k("client", client_id, "erasing")))

    def find_by_email(self, owner: str, email: str) -> Client | None:
        client_id = self.redis.get(self._email_key(owner, email))
        return self.get(client_id) if client_id else None

    def save(self, before: Client, after: Client) -> str:
        """Write a changed profile if nobody changed (or erased) it since `before` was
        read and no other client of the owner has the new email (Saved.*)."""
        profile = self.k("client", after.id)
        moved = after.email.lower() != before.email.lower()
        new_email = self._email_key(after.owner, after.email)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(profile, self.k("client", after.id, "erasing"), new_email)
                current = json.loads(pipe.get(profile) or "{}")
                if current.get("updated_at") != before.updated_at.isoformat() or \
                        pipe.exists(self.k("client", after.id, "erasing")):
                    return Saved.CHANGED
                if moved and pipe.exists(new_email):
                    return Saved.EMAIL_TAKEN
                pipe.multi()
                pipe.set(profile, self._encode(after))
                if moved:
                    pipe.set(new_email, after.id)
                    pipe.delete(self._email_key(before.owner, before.email))
                pipe.execute()
            except redis.WatchError:
                return Saved.CHANGED
        return Saved.OK

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

    def record_intake(self, client_id: str, answers: Intake,
                      at: datetime) -> IntakeRecord | None:
        """Record the answers, unless the client is gone or going (then None)."""
        sealed = self.vault.seal({"answers": jsonio.shallow(answers), "at": at.isoformat()})
        keys = [self.k("client", client_id), self.k("client", client_id, "erasing"),
                self.k("client", client_id, "intake"), self.k("intakes")]
        done = self._record_intake(keys=keys, args=[sealed, at.timestamp(), client_id])
        return IntakeRecord(answers, at) if done else None

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
        pipe.execute()  # the erasing mark ages out: a twin request that read the client
        # before the tombstone was written still finds the mark, and waits for it

    def erasures(self) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.k("erasures"), 0, -1)]

    # key rotation

    def reseal_all(self) -> int:
        """Every sealed value sealed anew with the vault's first key; returns how many.
        Each key is rewritten under WATCH, so a change made meanwhile (an erasure, a
        new intake) is never undone."""
        done = 0
        for name in self.redis.scan_iter(match=self.k("client", "*"), count=1000):
            if name.count(":") == 4:
                done += rewrite(self.redis, name, self._resealed_profile)
            elif name.endswith(":intake"):
                done += rewrite(self.redis, name, self._resealed_intakes)
        return done

    def _resealed_profile(self, pipe, name: str) -> Callable | None:
        data = json.loads(pipe.get(name) or "{}")
        notes = (data.get("preferences") or {}).get("notes")
        if not notes:
            return None
        data["preferences"]["notes"] = self.vault.reseal(notes)
        return lambda multi: multi.set(name, json.dumps(data))

    def _resealed_intakes(self, pipe, name: str) -> Callable | None:
        if pipe.type(name) != "zset":
            return None
        records = pipe.zrange(name, 0, -1, withscores=True)
        resealed = {self.vault.reseal(sealed): score for sealed, score in records}

        def write(multi) -> None:
            multi.delete(name)
            if resealed:
                multi.zadd(name, resealed)

        return write if records else None

