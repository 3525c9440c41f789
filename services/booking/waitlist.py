"""The waitlist's rules as data and pure functions: who waits for what, in which order,
what an offer is, and how an entry moves from waiting to booked. No Redis, no Flask.

An entry waits at one or more studios for a treatment within time windows. When time
frees there, the earliest-joined entry that fits gets it held as an offer for a while;
it accepts (a booking), declines, or lets the offer lapse, and then the time goes to
the next entry. An entry has at most one offer at a time, and a start it passed on is
never offered to it again.

    waiting --offer--> offered --accept--> booked
       ^                  |
       +--decline/lapse---+          waiting/offered --leave--> left
                                     waiting --windows passed--> expired
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.booking.domain import Hold
from services.common.errors import Invalid, InvalidTransition, OutsideBookingWindow

WAITING, OFFERED, BOOKED, EXPIRED, LEFT = "waiting", "offered", "booked", "expired", "left"
STATUSES = (WAITING, OFFERED, BOOKED, EXPIRED, LEFT)
IN_LINE = (WAITING, OFFERED)
MAX_WINDOWS = 10


@dataclass(frozen=True)
class Window:
    """When the client can come: the whole appointment lies inside [start, end)."""

    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Offer:
    """Time held for one entry until `expires_at`: the entry's to accept."""

    hold: str
    studio: str
    start: datetime
    end: datetime
    therapist: str
    room: str
    price: dict
    expires_at: datetime
    therapist_name: str = ""  # what the offer email calls the therapist

    @classmethod
    def of(cls, hold: Hold) -> Offer:
        return cls(hold.id, hold.studio, hold.start, hold.end, hold.therapist.id, hold.room.id,
                   hold.price, hold.expires_at, hold.therapist.name)


@dataclass(frozen=True)
class Entry:
    id: str
    owner: str  # the partner (or admin key) that made it
    client: str
    studios: tuple[str, ...]
    treatment: str
    duration: int
    windows: tuple[Window, ...]
    created_at: datetime
    updated_at: datetime
    addons: tuple[str, ...] = ()
    therapist: str | None = None
    therapist_gender: str | None = None
    status: str = WAITING
    offer: Offer | None = None
    booking: str | None = None
    passed_on: tuple[datetime, ...] = ()  # starts declined or let lapse: never offered again
    offers: int = 0  # offers made so far; names the next offer's hold (a retry is the same)
    version: int = 0  # the store's compare-and-set counter

    @property
    def in_line(self) -> bool:
        return self.status in IN_LINE

    def next_hold_id(self) -> str:
        return f"wl_{self.id}_{self.offers + 1}"

    def last_end(self) -> datetime:
        return max(window.end for window in self.windows)

    def wants(self, studio: str, start: datetime | None = None,
              end: datetime | None = None) -> bool:
        """Waiting, at this studio, with a window that time freed in [start, end) can
        serve (an appointment there overlaps what freed); no range: anywhere."""
        if self.status != WAITING or studio not in self.studios:
            return False
        return start is None or any(w.overlaps(start, end) for w in self.windows)

    def open_windows(self, now: datetime) -> tuple[Window, ...]:
        return tuple(w for w in self.windows if w.end > now)

    def passed(self, now: datetime) -> bool:
        return not self.open_windows(now)

    def offered(self, offer: Offer, now: datetime) -> Entry:
        self._may_become(OFFERED, (WAITING,))
        return replace(self, status=OFFERED, offer=offer, offers=self.offers + 1,
                       updated_at=now)

    def back_in_line(self, now: datetime) -> Entry:
        """The offer was declined or lapsed: waiting again, in the same place, never to
        be offered that start again."""
        self._may_become(WAITING, (OFFERED,))
        return replace(self, status=WAITING, offer=None, updated_at=now,
                       passed_on=(*self.passed_on, self.offer.start))

    def booked(self, booking_id: str, now: datetime) -> Entry:
        self._may_become(BOOKED, (OFFERED,))
        return replace(self, status=BOOKED, booking=booking_id, updated_at=now)

    def left(self, now: datetime) -> Entry:
        self._may_become(LEFT, IN_LINE)
        return replace(self, status=LEFT, offer=None, updated_at=now)

    def expired(self, now: datetime) -> Entry:
        self._may_become(EXPIRED, (WAITING,))
        return replace(self, status=EXPIRED, updated_at=now)

    def _may_become(self, to: str, allowed_from: tuple[str, ...]) -> None:
        if self.status not in allowed_from:
            raise InvalidTransition.between(self.status, to)


def check_windows(windows: tuple[Window, ...], now: datetime, latest: datetime) -> None:
    """Windows a waitlist can serve: each in the future, none starting beyond the
    booking horizon (`latest`, the last bookable start)."""
    for window in windows:
        if window.end <= window.start:
            raise Invalid.field("windows", "each window must end after it starts")
        if window.end <= now:
            raise Invalid.field("windows", "a window must end in the future")
        if window.start > latest:
            raise OutsideBookingWindow(
                "a window starts beyond the booking horizon", latest=latest.isoformat())
