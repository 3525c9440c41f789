"""Search answers kept in the process, reused while nothing they depend on has changed.

Two levels, both bounded (least recently used entries go first):

- **Answers**: a search's response body, keyed by the whole query and served while
  the catalog and every searched studio's ledger keep their versions (bumped by every
  change, see store.py) and time has not changed it. Partners repeat searches.
- **Studio-days**: one studio's slots on one local day for one order, keyed by the
  catalog version. A day is served while its studio's ledger version is unchanged;
  when it changed, the day's live reservations are compared with those it was
  computed from (its fingerprint), so one booking recomputes one studio-day and a
  city-wide search reuses every other.

Time changes an answer without any write in three ways: a live hold expires (its
time frees), the earliest offered start comes within the minimum notice (it stops
being offered), and the booking horizon moves forward (new starts enter). Each entry
is kept until the first of those that applies to it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.availability.domain import Reservation

FOREVER = 2**62
HORIZON_RECHECK_S = 60  # an answer cut by the booking horizon is recomputed this often

V = TypeVar("V")


class Lru(Generic[V]):
    """A dict that forgets its least recently used entries while their total weight
    (by default: their number) is over `size`. A gunicorn worker's threads share it,
    hence the lock."""

    def __init__(self, size: int, weight: Callable[[V], int] = lambda value: 1):
        self.size = size
        self.weight = weight
        self.total = 0
        self.entries: OrderedDict[tuple, V] = OrderedDict()
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: tuple) -> V | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: tuple, value: V) -> None:
        with self.lock:
            if (old := self.entries.pop(key, None)) is not None:
                self.total -= self.weight(old)
            self.entries[key] = value
            self.total += self.weight(value)
            while self.total > self.size and self.entries:
                self.total -= self.weight(self.entries.popitem(last=False)[1])


@dataclass(frozen=True)
class Entry:
    versions: tuple
    valid_until: int
    body: bytes


ENTRY_OVERHEAD = 1024  # an entry's key, versions and bookkeeping, beside its body


def weight(entry: Entry) -> int:
    return len(entry.body) + ENTRY_OVERHEAD


class SlotCache:
    """Whole answers, weighing at most `max_bytes` (a city-wide answer can be
    megabytes; an empty one still costs its key)."""

    def __init__(self, max_bytes: int = 16 << 20):
        self.answers: Lru[Entry] = Lru(max_bytes, weight)

    def get(self, key: tuple, versions: tuple, now: int) -> bytes | None:
        entry = self.answers.get(key)
        if entry and entry.versions == versions and now < entry.valid_until:
            return entry.body
        return None

    def put(self, key: tuple, versions: tuple, valid_until: int, body: bytes) -> None:
        self.answers.put(key, Entry(versions, valid_until, body))


@dataclass(frozen=True)
class Day:
    """One studio-day's slots, whatever the booking window: (start, the slot's JSON)."""

    ledger_version: int
    fingerprint: tuple
    valid_until: int
    slots: tuple[tuple[int, bytes], ...]

    def serves(self, ledger_version: int, now: int) -> bool:
        return self.ledger_version == ledger_version and now < self.valid_until

    def still(self, fingerprint: tuple, now: int) -> bool:
        return self.fingerprint == fingerprint and now < self.valid_until


class DayCache(Lru[Day]):
    def __init__(self, size: int = 4096):  # ~9 KB a studio-day (measured): ~35 MB at most
        super().__init__(size)


def fingerprint(live: list[Reservation]) -> tuple:
    """What of a day's live reservations its slots depend on."""
    return tuple(sorted((r.hold_id, r.therapist, r.room, r.start, r.busy_until, r.expires_at)
                        for r in live))


def holds_expire(live: list[Reservation], now: int) -> int:
    """The first instant a live hold among these expires (its time frees then)."""
    return min((r.expires_at for r in live if not r.confirmed and r.expires_at > now),
               default=FOREVER)


def leaves_notice(first_start: int | None, notice_s: int) -> int:
    """The first instant the earliest offered start is too soon to offer."""
    return FOREVER if first_start is None else first_start - notice_s + 1


def valid_until(days: list[Day], leaving: list[int], horizon_cut: bool, now: int) -> int:
    """Until when a whole answer holds without a write."""
    until = min([*(d.valid_until for d in days), *leaving], default=FOREVER)
    return min(until, now + HORIZON_RECHECK_S) if horizon_cut else until
