"""What partners ask booking to do, as data: loaded from HTTP bodies by schemas.py
and handed to handlers.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.booking.domain import Customer, Intake, Preferences
from services.booking.waitlist import Window


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
    client: str | None = None  # whose preferences fill in what is left out


@dataclass(frozen=True)
class BookingRequest:
    """Book a hold made earlier (`hold`), or a slot directly (`slot`): exactly one; for
    a client on record (`client`) or one given inline (`customer`): exactly one. With
    no intake, the client's latest intake on record is used."""

    customer: Customer | None
    intake: Intake | None
    hold: str | None = None
    slot: SlotRequest | None = None
    client: str | None = None


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


@dataclass(frozen=True)
class NewClient:
    name: str
    email: str
    phone: str | None = None
    preferences: Preferences = Preferences()


@dataclass(frozen=True)
class ChangeClient:
    """Only the fields given change (a PATCH)."""

    client_id: str
    changes: dict


@dataclass(frozen=True)
class RecordIntake:
    client_id: str
    answers: Intake


@dataclass(frozen=True)
class EraseClient:
    client_id: str
    cancel_future: bool = False


@dataclass(frozen=True)
class ClientBookings:
    client_id: str
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class JoinWaitlist:
    """Wait for time at any of `studios` within `windows`; for a client on record or
    given inline (exactly one), screened at joining as a booking is."""

    studios: tuple[str, ...]
    treatment: str
    duration: int
    windows: tuple[Window, ...]
    customer: Customer | None = None
    client: str | None = None
    intake: Intake | None = None
    addons: tuple[str, ...] = ()
    therapist: str | None = None
    therapist_gender: str | None = None


@dataclass(frozen=True)
class ListWaitlist:
    limit: int = 50
    studio: str | None = None
    status: str | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class FirstFree:
    """The earliest free time at a studio inside `windows`, except at `skip` (what an
    offer holds)."""

    studio: str
    treatment: str
    duration: int
    windows: tuple[Window, ...]
    addons: tuple[str, ...] = ()
    therapist: str | None = None
    therapist_gender: str | None = None
    skip: tuple[datetime, ...] = ()
