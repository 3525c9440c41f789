"""Search answers (response bodies) kept in the process, reused while nothing they
depend on has changed.

A search depends on the catalog, the searched studios' ledgers, and time. The first
two carry versions (bumped by every change, see store.py); time changes an answer only
when a live hold expires or the first offered slot starts, so an entry is kept until
the earliest of those instants. Partners repeat the same searches; a write to a studio
makes its next search compute afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.availability.domain import Reservation
from services.availability.engine import Slot

FOREVER = 2**62


@dataclass(frozen=True)
class Entry:
    versions: tuple
    valid_until: int
    body: bytes


class SlotCache:
    def __init__(self, size: int = 1024):
        self.size = size
        self.entries: dict[tuple, Entry] = {}

    def get(self, key: tuple, versions: tuple, now: int) -> bytes | None:
        entry = self.entries.get(key)
        if entry and entry.versions == versions and now < entry.valid_until:
            return entry.body
        return None

    def put(self, key: tuple, versions: tuple, valid_until: int, body: bytes) -> None:
        if len(self.entries) >= self.size:
            self.entries.clear()  # crude, but bounded; a busy city re-fills it in seconds
        self.entries[key] = Entry(versions, valid_until, body)


def valid_until(slots: list[Slot], reservations: list[Reservation], now: int) -> int:
    """The first instant the same search would answer differently without any write."""
    expiring = [r.expires_at for r in reservations if not r.confirmed and r.expires_at > now]
    return min([*expiring, *(slot.start for slot in slots[:1])], default=FOREVER)
