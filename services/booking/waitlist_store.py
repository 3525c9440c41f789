"""The waitlist in Redis, under `spa:{<city>:booking}:waitlist:`.

waitlist:<id>                an entry as JSON
waitlist:line:<studio>       the studio's line: entries waiting or offered there, as
                             `<joined, ms>:<id>` members (lexical order: join order)
waitlist:index:<studio|all>  every entry, the same members (listings, by join time)
waitlist:client:<id>         set: a client's entry ids (erasure)
waitlist:offers              offered entry id -> when its offer lapses
waitlist:ends                entry id -> when its last window ends, while in line

Every change goes through `save`: a compare-and-set on the entry, written in one MULTI
with its event (booking's outbox), the record of an offer's hold (so that accepting it
books the hold as POST /v1/bookings books any hold), and the release of a hold given
back, which is refused if a booking took that hold first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

import redis

from services.booking.domain import Hold
from services.booking.store import BookingStore, Claim
from services.booking.waitlist import Entry, Offer, Window
from services.common import bus, jsonio
from services.common.claims import claim_due

MEMBER = r"^\d{13}:[A-Za-z0-9_-]{1,64}$"  # a listing cursor: `<joined, ms>:<id>`


@dataclass(frozen=True)
class Save:
    """What one `save` writes besides the entry."""

    before: Entry | None
    after: Entry
    event: bus.Envelope | None = None
    hold: Hold | None = None  # an offer's hold, whose record is written
    give_back: str | None = None  # a hold deleted and released, unless a booking took it
    receipt: Claim | None = None  # an Idempotency-Key that now answers with this entry


class WaitlistStore:
    def __init__(self, client: redis.Redis, bookings: BookingStore):
        self.redis = client
        self.bookings = bookings

    def k(self, *parts: str) -> str:
        return self.bookings.k("waitlist", *parts)

    def get(self, entry_id: str) -> Entry | None:
        raw = self.redis.get(self.k(entry_id))
        return decode(raw) if raw else None

    def get_many(self, entry_ids: list[str]) -> list[Entry | None]:
        raws = self.redis.mget([self.k(i) for i in entry_ids]) if entry_ids else []
        return [decode(raw) if raw else None for raw in raws]

    def save(self, change: Save) -> Entry | None:
        """Write `change` if nobody changed the entry since it was read (and, giving a
        hold back, if no booking took it); the entry as saved, else None."""
        keys = [self.k(change.after.id)]
        if change.give_back:
            keys.append(self.bookings.hold_key(change.give_back))
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*keys)
                if stored_version(pipe.get(keys[0])) != change.after.version:
                    return None
                if change.give_back and not pipe.exists(keys[1]):
                    return None
                pipe.multi()
                saved = replace(change.after, version=change.after.version + 1)
                self._write(pipe, saved, change)
                pipe.execute()
            except redis.WatchError:
                return None
        return saved

    def _write(self, pipe, saved: Entry, change: Save) -> None:
        member = line_member(saved)
        pipe.set(self.k(saved.id), jsonio.dumps(saved))
        for studio in saved.studios:
            line = self.k("line", studio)
            if saved.in_line:
                pipe.zadd(line, {member: 0})
            else:
                pipe.zrem(line, member)
        if change.before is None:
            for index in ("all", *saved.studios):
                pipe.zadd(self.k("index", index), {member: 0})
            pipe.sadd(self.k("client", saved.client), saved.id)
        self._schedule(pipe, saved)
        if change.event:
            self.bookings.add_event(pipe, change.event)
        if change.hold:
            self.bookings.write_hold(pipe, change.hold)
        if change.give_back:
            self.bookings.write_give_back(pipe, change.give_back)
        if change.receipt:
            self.bookings.write_receipt(pipe, change.receipt, saved.id)

    def _schedule(self, pipe, saved: Entry) -> None:
        if saved.offer:
            pipe.zadd(self.k("offers"), {saved.id: saved.offer.expires_at.timestamp()})
        else:
            pipe.zrem(self.k("offers"), saved.id)
        if saved.in_line:
            pipe.zadd(self.k("ends"), {saved.id: saved.last_end().timestamp()})
        else:
            pipe.zrem(self.k("ends"), saved.id)

    # reading the line and the listings

    def line(self, studio: str) -> list[Entry]:
        """The studio's line, in join order."""
        members = self.redis.zrange(self.k("line", studio), 0, -1)
        return [e for e in self.get_many([m.split(":", 1)[1] for m in members]) if e]

    def lines(self) -> list[str]:
        """The studios where someone is in line."""
        prefix = self.k("line", "")
        return [name.removeprefix(prefix)
                for name in self.redis.scan_iter(match=prefix + "*", count=1000)]

    def page(self, studio: str | None, after: str | None,
             count: int) -> list[tuple[str, Entry | None]]:
        """Up to `count` (member, entry) in join order, after the cursor `after`."""
        members = self.redis.zrangebylex(self.k("index", studio or "all"),
                                         f"({after}" if after else "-", "+", start=0,
                                         num=count)
        entries = self.get_many([m.split(":", 1)[1] for m in members])
        return list(zip(members, entries, strict=True))

    def of_client(self, client_id: str) -> list[Entry]:
        ids = sorted(self.redis.smembers(self.k("client", client_id)))
        return [e for e in self.get_many(ids) if e]

    def lapsed_offers(self, now: datetime, lease_s: float, limit: int = 20) -> list[str]:
        """Entries whose offer lapsed, each claimed for `lease_s`: of N worker replicas,
        one settles it (its save reschedules or removes it)."""
        return list(claim_due(self.redis, self.k("offers"), now.timestamp(), lease_s, limit))

    def ended(self, now: datetime, lease_s: float, limit: int = 20) -> list[str]:
        """Entries whose last window ended, each claimed for `lease_s` (as above)."""
        return list(claim_due(self.redis, self.k("ends"), now.timestamp(), lease_s, limit))


def stored_version(raw: str | None) -> int:
    """The version of an entry as stored (0: none yet)."""
    return json.loads(raw)["version"] if raw else 0


def line_member(entry: Entry) -> str:
    return f"{int(entry.created_at.timestamp() * 1000):013d}:{entry.id}"


def decode(raw: str) -> Entry:
    data = json.loads(raw)
    offer = data["offer"]
    return Entry(**{
        **data, **_instants(data, "created_at", "updated_at"),
        "studios": tuple(data["studios"]), "addons": tuple(data["addons"]),
        "windows": tuple(Window(datetime.fromisoformat(w["start"]),
                                datetime.fromisoformat(w["end"])) for w in data["windows"]),
        "passed_on": tuple(datetime.fromisoformat(p) for p in data["passed_on"]),
        "offer": Offer(**{**offer, **_instants(offer, "start", "end", "expires_at")})
        if offer else None})


def _instants(data: dict, *names: str) -> dict:
    return {name: datetime.fromisoformat(data[name]) for name in names}
