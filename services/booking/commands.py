"""What partners ask booking to do, as data: loaded from HTTP bodies by schemas.py
and handed to handlers.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.booking.domain import Customer, Intake


@dataclass(frozen=True)
class SlotRequest:
    """A time a client asks for; no therapist means any qualified one."""

    studio: str
    treatment: str
    duration: int
    start: datetime
    therapist: str | None = None
    addons: tuple[str, ...] = ()
    therapist_gender: str | None = None


@dataclass(frozen=True)
class BookingRequest:
    """Book a hold made earlier (`hold`), or a slot directly (`slot`): exactly one."""

    customer: Customer
    intake: Intake | None
    hold: str | None = None
    slot: SlotRequest | None = None


@dataclass(frozen=True)
class Cancel:
    booking_id: str
    reason: str = ""


@dataclass(frozen=True)
class Reschedule:
    booking_id: str
    start: datetime
    therapist: str | None = None


@dataclass(frozen=True)
class Finish:
    """The visit happened (`completed`) or the client did not come (`no_show`)."""

    booking_id: str
    outcome: str


@dataclass(frozen=True)
class ListBookings:
    """One page of bookings in start order; filters apply while the index is read."""

    limit: int = 50
    studio: str | None = None
    status: str | None = None
    cursor: str | None = None
    first: datetime | None = None  # starts at or after
    last: datetime | None = None  # starts before
