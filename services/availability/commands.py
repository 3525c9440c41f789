"""What availability is asked to do, as data: each is loaded at an edge (HTTP query,
RPC params, admin body) by schemas.py and handed to its handler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class SearchSlots:
    """Starts in [first, last] for dates (whole local days), [first, last) for instants."""

    treatment: str
    duration: int
    first: date | datetime
    last: date | datetime
    studio: str | None = None  # None: every studio the caller sees
    therapist: str | None = None
    addons: tuple[str, ...] = ()
    therapist_gender: str | None = None


@dataclass(frozen=True)
class StudioDay:
    """A studio's local day, as the front desk shows it."""

    studio: str
    day: date


@dataclass(frozen=True)
class Describe:
    studio: str
    treatment: str


@dataclass(frozen=True)
class HoldSlot:
    studio: str
    treatment: str
    duration: int
    start: datetime
    therapist: str | None = None
    hold_id: str | None = None  # chosen by the caller: a retried hold is the same hold
    ttl_s: int | None = None
    addons: tuple[str, ...] = ()
    therapist_gender: str | None = None


@dataclass(frozen=True)
class Reserve:
    """Hold and confirm in one step for a booking whose saga chose `hold_id`;
    `prefer`: a therapist to take when free (else the best able one)."""

    studio: str
    treatment: str
    duration: int
    start: datetime
    hold_id: str
    booking_id: str
    therapist: str | None = None
    addons: tuple[str, ...] = ()
    therapist_gender: str | None = None
    prefer: str | None = None


@dataclass(frozen=True)
class HoldFirst:
    """Hold the earliest free start within `windows` ([from, to) instants, the whole
    appointment inside one), except those in `skip`: a waitlist offer."""

    studio: str
    treatment: str
    duration: int
    windows: tuple[tuple[datetime, datetime], ...]
    therapist: str | None = None
    hold_id: str | None = None
    ttl_s: int | None = None
    addons: tuple[str, ...] = ()
    therapist_gender: str | None = None
    skip: tuple[datetime, ...] = ()

    def at(self, start: datetime) -> HoldSlot:
        return HoldSlot(self.studio, self.treatment, self.duration, start, self.therapist,
                        self.hold_id, self.ttl_s, self.addons, self.therapist_gender)


@dataclass(frozen=True)
class Confirm:
    hold_id: str
    booking_id: str


@dataclass(frozen=True)
class Release:
    hold_id: str
