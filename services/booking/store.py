"""The booking service's Redis keys, all under `spa:{<city>:booking}:`.

booking:<id>               one booking as JSON (every status, `failed` ones kept for audit)
index:all, index:<studio>  listing indexes: sorted sets whose members `<start epoch>:<id>`
                           all score 0, so lexicographic order is start order and the last
                           member of a page is the cursor of the next
pending                    sorted set: booking id -> deadline of a saga in flight; past
                           it the worker undoes the saga (its process died)
releases                   sorted set: hold id -> when to (re)try releasing it
hold:<id>                  a hold made with POST /v1/holds, until it expires
idempotency:<scope>:<key>  {fingerprint, booking}: a claim while the first request runs,
                           then its receipt for 24 h
outbox, outbox:due         envelope id -> envelope JSON; the ids the relay may publish
outbox:claims              envelope id -> when a relay's claim on it ends (N replicas)
client:<id>:bookings       a client's bookings (their history), members as in the indexes
client:<id>:all            set: every booking id of the client, whatever its status
                           (erasure reaches the failed ones too)
answers                    sorted set: booking id -> when, for bookings that still hold
                           the health answers they were screened on (retention)

A booking's health answers are sealed (services/common/vault.py) before they are
written: Redis never holds them in clear text. Clients are in clients.py.

Every change to a booking goes through `commit`: one script (lua/commit.lua) that checks
the booking's version and writes the change with its event in the outbox, so a state
change and its event exist together or not at all, in one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import redis

from services.booking.domain import (
    Booking,
    CancellationTerms,
    Customer,
    Hold,
    Intake,
    Named,
    Screening,
)
from services.common import bus, jsonio
from services.common.claims import claim_due, claim_first, release_first, unclaim
from services.common.clock import Clock
from services.common.redis import durably, key, rewrite
from services.common.redis_ops import Writes
from services.common.vault import Vault

LUA = Path(__file__).parent / "lua"

RECEIPT_TTL_S = 24 * 3600
CURSOR = r"^\d{11}:[A-Za-z0-9_-]{1,64}$"  # an index member: `<start epoch>:<booking id>`


@dataclass(frozen=True)
class Claim:
    """An Idempotency-Key, scoped to one API key, and the body it was first sent with."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Change:
    """What one commit writes besides the booking itself."""

    booking: Booking
    event: bus.Envelope | None = None
    release: str | None = None  # a hold that must be released (the worker retries)
    # When the worker may first retry it: a hold whose RPC may still be in flight must
    # not be released before that RPC is surely answered (the saga timeout); the
    # confirmed time of a cancelled or moved booking may be retried at once.
    release_after_s: float | None = None
    receipt: Claim | None = None  # an Idempotency-Key that now answers with this booking
    takes_hold: str | None = None  # a POST /v1/holds hold this booking uses up


class BookingStore:
    def __init__(self, client: redis.Redis, city: str, saga_timeout_s: float,
                 clock: Clock, vault: Vault):
        self.redis = client
        self.city = city
        self.saga_timeout_s = saga_timeout_s
        self.clock = clock
        self.vault = vault
        self._commit = client.register_script((LUA / "commit.lua").read_text())

    def _in(self, seconds: float = 0.0) -> float:
        """An epoch score `seconds` from now (deadlines and due times)."""
        return self.clock.epoch() + seconds

    def k(self, *parts: str) -> str:
        return key(self.city, "booking", *parts)

    # bookings

    def get(self, booking_id: str) -> Booking | None:
        return self._decode(self.redis.get(self.k("booking", booking_id)))

    def get_many(self, booking_ids: list[str]) -> list[Booking | None]:
        if not booking_ids:
            return []
        raw = self.redis.mget([self.k("booking", i) for i in booking_ids])
        return [self._decode(text) for text in raw]

    def commit(self, change: Change, before: Booking | None = None) -> Booking | None:
        """Write `change` if nobody changed the booking since it was read (and the hold
        it takes is still there); None otherwise. `before`: the booking as stored at
        that version, when the caller has it (else it is read: its index entries go)."""
        if before is None and change.booking.version:
            before = self.get(change.booking.id)
            if before is None or before.version != change.booking.version:
                return None
        saved = replace(change.booking, version=change.booking.version + 1)
        writes = Writes()
        self._write(writes, before, saved, change)
        booking_key = self.k("booking", saved.id)
        hold_key = self.k("hold", change.takes_hold) if change.takes_hold else booking_key
        keys, ops = writes.for_script([booking_key, hold_key])
        # A booking's answer is a promise: on a cluster it waits for a replica.
        done = durably(self._commit, keys, [change.booking.version, self._encode(saved),
                                            "1" if change.takes_hold else "0", ops])
        return saved if done else None

    def discard(self, pending: Booking) -> None:
        """Remove a pending booking whose time availability refused outright (taken,
        unknown therapist): nothing was held, so there is nothing to audit or undo."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.k("booking", pending.id))
            if pending.client:
                pipe.srem(self.k("client", pending.client, "all"), pending.id)
            pipe.zrem(self.k("answers"), pending.id).zrem(self.k("pending"), pending.id)
            pipe.execute()

    def _write(self, pipe, before: Booking | None, saved: Booking, change: Change) -> None:
        """Every write of the change but the booking itself (the script sets it)."""
        self._reindex(pipe, before, saved)
        if saved.client:
            pipe.sadd(self.k("client", saved.client, "all"), saved.id)
        if saved.screening.declared:
            pipe.zadd(self.k("answers"), {saved.id: saved.created_at.timestamp()})
        else:
            pipe.zrem(self.k("answers"), saved.id)
        if saved.status == "pending" or saved.next_hold:
            pipe.zadd(self.k("pending"), {saved.id: self._in(self.saga_timeout_s)})
        else:
            pipe.zrem(self.k("pending"), saved.id)
        if change.event:
            self.add_event(pipe, change.event)
        if change.release:  # the caller releases at once; the worker retries
            after = change.release_after_s
            due = self._in(self.saga_timeout_s if after is None else after)
            pipe.zadd(self.k("releases"), {change.release: due})
        if change.receipt:
            self.write_receipt(pipe, change.receipt, saved.id)

    def _reindex(self, pipe, before: Booking | None, saved: Booking) -> None:
        if before and before.visible:
            for index in self._indexes(before):
                pipe.zrem(index, index_member(before))
        if saved.visible:
            for index in self._indexes(saved):
                pipe.zadd(index, {index_member(saved): 0})

    def _indexes(self, booking: Booking) -> tuple[str, ...]:
        indexes = (self.k("index", "all"), self.k("index", booking.studio))
        return (*indexes, self.k("client", booking.client, "bookings")) if booking.client \
            else indexes

    def index_page(self, studio: str | None, start: datetime | None, end: datetime | None,
                   after: str | None, count: int) -> list[tuple[str, Booking | None]]:
        """Up to `count` (index member, booking) in start order, after the cursor `after`."""
        index = self.k("index", studio) if studio else self.k("index", "all")
        low = f"({after}" if after else f"[{_epoch(start)}" if start else "-"
        high = f"({_epoch(end)}" if end else "+"
        members = self.redis.zrangebylex(index, low, high, start=0, num=count)
        ids = [member.split(":", 1)[1] for member in members]
        return list(zip(members, self.get_many(ids), strict=True))

    def claim_stale_sagas(self, lease_s: float, limit: int = 100) -> list[str]:
        """Bookings whose saga is past its deadline, each claimed for `lease_s` (of N
        worker replicas, one undoes it; its commit takes it off `pending`)."""
        return list(claim_due(self.redis, self.k("pending"), self._in(), lease_s, limit))

    # holds made with POST /v1/holds

    def save_hold(self, hold: Hold) -> None:
        self.write_hold(self.redis, hold)

    def write_hold(self, pipe, hold: Hold) -> None:
        """The hold's record (`pipe`: a client, or a MULTI of the caller's)."""
        ttl_s = int((hold.expires_at - self.clock.now()).total_seconds()) + 60
        # kept a minute past expiry, so a late booking hears hold_expired, not not_found
        pipe.set(self.k("hold", hold.id), _hold_to_json(hold), ex=max(ttl_s, 60))

    def get_hold(self, hold_id: str) -> Hold | None:
        raw = self.redis.get(self.k("hold", hold_id))
        return _hold_from_json(raw) if raw else None

    def give_back_hold(self, hold_id: str) -> bool:
        """Delete a hold and queue its release in one MULTI, unless a booking took the
        hold first (commit deletes it under WATCH): then its time is that booking's and
        must not be released. True when the hold was given back."""
        hold_key = self.k("hold", hold_id)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(hold_key)
                if not pipe.exists(hold_key):
                    return False
                pipe.multi()
                self.write_give_back(pipe, hold_id)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def write_give_back(self, pipe, hold_id: str) -> None:
        """In the caller's MULTI, which WATCHes the hold's key: delete the hold and queue
        its release (its RPC may still be in flight, hence the saga timeout)."""
        pipe.delete(self.k("hold", hold_id))
        pipe.zadd(self.k("releases"), {hold_id: self._in(self.saga_timeout_s)})

    def hold_key(self, hold_id: str) -> str:
        return self.k("hold", hold_id)

    # releases the worker retries until availability answers

    def queue_release(self, hold_id: str, delay_s: float = 0.0) -> None:
        self.redis.zadd(self.k("releases"), {hold_id: self._in(delay_s)})

    def due_releases(self, limit: int = 100) -> list[str]:
        return self.redis.zrangebyscore(self.k("releases"), 0, self._in(), start=0, num=limit)

    def claim_releases(self, lease_s: float, limit: int = 100) -> dict[str, float]:
        """Releases due now, each claimed for `lease_s` (one replica tries it), with
        when each was due (`unclaim_releases` gives back those not tried)."""
        return claim_due(self.redis, self.k("releases"), self._in(), lease_s, limit)

    def unclaim_releases(self, claimed: dict[str, float]) -> None:
        unclaim(self.redis, self.k("releases"), claimed)

    def released(self, hold_id: str) -> None:
        self.redis.zrem(self.k("releases"), hold_id)

    def _encode(self, booking: Booking) -> str:
        """The booking as JSON, its health answers sealed."""
        declared = booking.screening.declared
        sealed = self.vault.seal(jsonio.shallow(declared)) if declared else None
        return jsonio.dumps(replace(booking, screening=replace(booking.screening,
                                                                 declared=sealed)))

    def _decode(self, raw: str | None) -> Booking | None:
        if raw is None:
            return None
        data = json.loads(raw)
        screening = data["screening"]
        declared = screening["declared"]
        if isinstance(declared, str):
            declared = self.vault.open(declared)
        # Before fees, a booking had only a free period (`cancellation_window_h`).
        old_window = data.pop("cancellation_window_h", None)
        terms = data.get("terms") or {"free_until_h": old_window or 24}
        return Booking(**{
            **data, **_instants(data, "start", "end", "created_at", "updated_at"),
            "customer": Customer(**data["customer"]),
            "screening": Screening(Intake(**declared) if declared else None,
                                   screening["rule_version"],
                                   screening.get("outcome") or "cleared"),
            "addons": tuple(data.get("addons") or ()), "terms": _terms(terms),
        })

    # a client's bookings, and answers kept no longer than needed

    def client_page(self, client_id: str, after: str | None,
                    count: int) -> list[tuple[str, Booking | None]]:
        """Up to `count` (index member, booking) of a client, latest start first, after
        the cursor `after` (an index member, as the listing's cursor is)."""
        members = self.redis.zrevrangebylex(self.k("client", client_id, "bookings"),
                                            f"({after}" if after else "+", "-", start=0,
                                            num=count)
        ids = [member.split(":", 1)[1] for member in members]
        return list(zip(members, self.get_many(ids), strict=True))

    def client_bookings(self, client_id: str) -> list[Booking]:
        """Every booking of the client, whatever its status, in start order."""
        ids = sorted(self.redis.smembers(self.k("client", client_id, "all")))
        found = [b for b in self.get_many(ids) if b]
        return sorted(found, key=lambda booking: booking.start)

    def answers_older_than(self, moment: datetime, limit: int = 100) -> list[str]:
        return self.redis.zrangebyscore(self.k("answers"), "-inf", moment.timestamp(),
                                        start=0, num=limit)

    def seal_clear_answers(self) -> int:
        """Answers written in clear text by a version before sealing, sealed now
        (`spa init`); returns how many bookings changed. Under WATCH: a change made
        meanwhile is never undone."""
        return sum(rewrite(self.redis, name, self._sealed_if_clear)
                   for name in self.redis.scan_iter(match=self.k("booking", "*"), count=1000))

    def _sealed_if_clear(self, pipe, name: str) -> Callable | None:
        raw = pipe.get(name)
        if not raw or not isinstance(json.loads(raw)["screening"].get("declared"), dict):
            return None
        booking = self._decode(raw)

        def write(multi) -> None:
            multi.set(name, self._encode(booking))
            multi.zadd(self.k("answers"), {booking.id: booking.created_at.timestamp()})

        return write

    def reseal_all(self) -> int:
        """Every booking's sealed answers sealed anew with the vault's first key; each
        under WATCH, so a cancel or a move made meanwhile is never undone."""
        return sum(rewrite(self.redis, self.k("booking", booking_id), self._resealed)
                   for booking_id in self.redis.zrange(self.k("answers"), 0, -1))

    def _resealed(self, pipe, name: str) -> Callable | None:
        data = json.loads(pipe.get(name) or "{}")
        token = (data.get("screening") or {}).get("declared")
        if not isinstance(token, str):
            return None
        data["screening"]["declared"] = self.vault.reseal(token)
        return lambda multi: multi.set(name, json.dumps(data))

    # idempotency

    def claim(self, claim: Claim, ttl_s: float) -> bool:
        """Take the key for this request (SET NX): only one request runs per key."""
        record = json.dumps({"fingerprint": claim.fingerprint, "booking": None})
        return bool(self.redis.set(self._claim_key(claim), record, nx=True, ex=int(ttl_s)))

    def claim_record(self, claim: Claim) -> dict | None:
        raw = self.redis.get(self._claim_key(claim))
        return json.loads(raw) if raw else None

    def unclaim(self, claim: Claim) -> None:
        """Let the key be tried again: the request it guarded booked nothing."""
        self.redis.delete(self._claim_key(claim))

    def write_receipt(self, pipe, claim: Claim, booking_id: str) -> None:
        """The key now answers with this booking (or waitlist entry) id."""
        record = json.dumps({"fingerprint": claim.fingerprint, "booking": booking_id})
        pipe.set(self._claim_key(claim), record, ex=RECEIPT_TTL_S)

    def _claim_key(self, claim: Claim) -> str:
        return self.k("idempotency", claim.scope, claim.key)

    # transactional outbox

    def add_event(self, pipe, envelope: bus.Envelope) -> None:
        """In the caller's MULTI: the event, to be relayed (at least once)."""
        pipe.hset(self.k("outbox"), envelope.id, json.dumps(bus.envelope_to_body(envelope)))
        pipe.zadd(self.k("outbox", "due"), {envelope.id: self._in()})

    def publish(self, envelope: bus.Envelope) -> None:
        """An event that goes with no booking change, through the same outbox."""
        with self.redis.pipeline(transaction=True) as pipe:
            self.add_event(pipe, envelope)
            pipe.execute()

    def due_events(self, limit: int = 100) -> list[bus.Envelope]:
        """Unsent events, oldest first (those claimed by a relay too)."""
        return self._events(self.redis.zrange(self.k("outbox", "due"), 0, limit - 1))

    def claim_events(self, lease_s: float, limit: int = 100) -> list[str]:
        """The ids of unsent events, oldest first, each claimed for `lease_s`: of N
        relays, one publishes it; one that dies first leaves it to be published again
        after the lease (the same envelope id, which consumers drop). The claims are
        kept beside the outbox, as an event's score orders it but is no due time (the
        clock of the app that committed it need not be the worker's)."""
        return claim_first(self.redis, self.k("outbox", "due"), self.k("outbox", "claims"),
                           self.clock.epoch(), lease_s, limit)

    def events(self, event_ids: list[str]) -> list[bus.Envelope]:
        """These events, if still unsent, in this order."""
        return self._events(event_ids)

    def unclaim_events(self, event_ids: list[str]) -> None:
        """Claimed events not published (the broker is away): anyone's again at once."""
        release_first(self.redis, self.k("outbox", "claims"), event_ids)

    def _events(self, ids: list[str]) -> list[bus.Envelope]:
        raw = self.redis.hmget(self.k("outbox"), ids) if ids else []
        return [bus.envelope_from_body(text) for text in raw if text]

    def mark_sent(self, event_id: str) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.k("outbox", "due"), event_id).hdel(self.k("outbox"), event_id)
            pipe.zrem(self.k("outbox", "claims"), event_id)
            pipe.execute()


def index_member(booking: Booking) -> str:
    return f"{_epoch(booking.start)}:{booking.id}"


def _epoch(instant: datetime) -> str:
    """Fixed width so that text order is time order (years 1970 to 5138)."""
    return f"{max(0, int(instant.timestamp())):011d}"


def _terms(data: dict) -> CancellationTerms:
    return CancellationTerms(int(data["free_until_h"]),
                             Decimal(str(data.get("late_fee_percent", 0))),
                             Decimal(str(data.get("no_show_fee_percent", 0))))


def _hold_to_json(hold: Hold) -> str:
    return jsonio.dumps(hold)


def _hold_from_json(raw: str) -> Hold:
    data = json.loads(raw)
    return Hold(**{**data, **_instants(data, "start", "end", "expires_at"),
                   "therapist": Named(**data["therapist"]), "room": Named(**data["room"]),
                   "addons": tuple(data.get("addons") or ()),
                   "terms": _terms(data.get("terms") or {"free_until_h": 24})})


def _instants(data: dict, *names: str) -> dict:
    return {name: datetime.fromisoformat(data[name]) for name in names}
