"""The availability domain: the city catalog and the reservation ledger, as plain
dataclasses. Pure: no Flask, no Redis.

Instants the engine and the ledger compute with are epoch seconds (int, UTC): they are
the ledger's sorted-set scores, and integer arithmetic keeps the slot search cheap.
Wall-clock things (opening hours, shifts) stay local to the studio's IANA zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from services.common.errors import Invalid, NotFound
from services.common.money import Money

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
# The intake form asks exactly these; booking maps its answers onto these names.
CONTRAINDICATIONS = ("pregnancy", "recent_surgery", "recent_injury")
# What a therapist may say of themselves, and a client ask for.
GENDERS = ("female", "male", "non_binary")
# Opening hours never cross local midnight, so a reservation lies inside one local day,
# and a local day lasts at most 25 h (the autumn clock change): the ledger looks back
# this far to find every reservation that overlaps a given instant.
MAX_SPAN_S = 26 * 3600


@dataclass(frozen=True)
class TimeRange:
    """A wall-clock range within one local day, [start, end)."""

    start: time
    end: time

    @property
    def minutes(self) -> tuple[int, int]:
        return minute_of_day(self.start), minute_of_day(self.end)

    def contains(self, other: TimeRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def minute_of_day(moment: time) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True)
class Absence:
    """A closure of a studio or a therapist's time off. Dates mean whole local days,
    `last` included; instants are exact, `last` excluded."""

    first: date | datetime
    last: date | datetime
    reason: str = ""

    def span(self, zone: ZoneInfo) -> tuple[int, int]:
        return instant_of(self.first, zone), instant_of(self.last, zone, day_end=True)


def instant_of(value: date | datetime, zone: ZoneInfo, day_end: bool = False) -> int:
    """An instant as is; a date as its local midnight (the next one with `day_end`)."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    day = value + timedelta(days=1) if day_end else value
    return local_midnight(day, zone)


def local_midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(), zone).timestamp())


DAY_S = 24 * 3600


@dataclass(frozen=True)
class BookingWindow:
    """How soon, and how far ahead, a start may be booked: from `min_notice_min` after
    now to `max_advance_days` after now, both ends included."""

    min_notice_min: int = 0
    max_advance_days: int = 365

    def earliest(self, now: int) -> int:
        return now + self.min_notice_min * 60

    def latest(self, now: int) -> int:
        return now + self.max_advance_days * DAY_S

    def admits(self, start: int, now: int) -> bool:
        return self.earliest(now) <= start <= self.latest(now)


@dataclass(frozen=True)
class CancellationPolicy:
    """Free to cancel until `free_until_h` before the start; later, a share of the
    price is due, and all of `no_show_fee_percent` when the client does not come."""

    free_until_h: int = 24
    late_fee_percent: Decimal = Decimal(0)
    no_show_fee_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class City:
    id: str
    name: str
    timezone: str
    currency: str


@dataclass(frozen=True)
class Studio:
    id: str
    name: str
    timezone: str
    opening_hours: Mapping[int, tuple[TimeRange, ...]]  # weekday -> ranges; absent: closed
    address: str = ""
    closures: tuple[Absence, ...] = ()
    slot_step_min: int = 15
    booking_window: BookingWindow = field(default_factory=BookingWindow)
    cancellation: CancellationPolicy = field(default_factory=CancellationPolicy)
    # The city's id and currency, filled in when the catalog is assembled.
    city: str = ""
    currency: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, day: date) -> tuple[TimeRange, ...]:
        return self.opening_hours.get(day.weekday(), ())


@dataclass(frozen=True)
class Named:
    """Something shown by id and name (a therapist or room in a hold's answer)."""

    id: str
    name: str


@dataclass(frozen=True)
class Room:
    id: str
    studio: str
    name: str
    equipment: frozenset[str]


@dataclass(frozen=True)
class Shift:
    studio: str
    days: frozenset[int]  # weekdays
    hours: TimeRange


@dataclass(frozen=True)
class Therapist:
    id: str
    name: str
    skills: frozenset[str]
    shifts: tuple[Shift, ...]
    time_off: tuple[Absence, ...] = ()
    gender: str | None = None  # for clients who ask for a therapist of a given gender

    def hours_at(self, studio: str, day: date) -> list[TimeRange]:
        weekday = day.weekday()
        return [s.hours for s in self.shifts if s.studio == studio and weekday in s.days]

    def works_at(self, studio: str) -> bool:
        return any(shift.studio == studio for shift in self.shifts)


@dataclass(frozen=True)
class Requires:
    skill: str
    equipment: frozenset[str]


@dataclass(frozen=True)
class Treatment:
    id: str
    name: str
    durations_min: tuple[int, ...]
    prices: Mapping[int, Decimal]  # duration -> amount in the city's currency
    requires: Requires
    buffer_min: int = 0  # cleanup after the treatment: therapist and room stay busy
    contraindications: tuple[str, ...] = ()
    preparation: tuple[str, ...] = ()
    aftercare: tuple[str, ...] = ()
    no_food_before_min: int | None = None
    intake_required: bool = False
    booking_window: BookingWindow | None = None  # None: the studio's
    addons: tuple[str, ...] = ()  # the add-ons a client may have with it
    currency: str = ""  # the city's, filled in when the catalog is assembled

    def price(self, duration: int) -> Money:
        return Money(self.prices[duration], self.currency)

    @property
    def price_list(self) -> dict[int, Money]:
        return {duration: self.price(duration) for duration in self.durations_min}

    def offered(self, duration: int) -> int:
        """`duration`, if the treatment comes in that length."""
        if duration not in self.durations_min:
            lengths = " or ".join(map(str, self.durations_min))
            raise Invalid.field("duration", f"{self.id} lasts {lengths} minutes")
        return duration



@dataclass(frozen=True)
class AddOnRequires:
    skill: str | None = None
    equipment: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AddOn:
    """An extra a client may have with a treatment: minutes more of the therapist and
    room, a price per treatment length (`prices`) or one flat `price`, and perhaps a
    skill or equipment of its own."""

    id: str
    name: str
    extra_min: int
    requires: AddOnRequires = field(default_factory=AddOnRequires)
    prices: Mapping[int, Decimal] = field(default_factory=dict)
    price: Decimal | None = None
    currency: str = ""  # the city's, filled in when the catalog is assembled

    def price_for(self, duration: int) -> Money:
        amount = self.price if self.price is not None else self.prices[duration]
        return Money(amount, self.currency)


@dataclass(frozen=True)
class Order:
    """A treatment of one length with its add-ons: what a therapist and a room are
    asked for, for how long, and what it costs."""

    treatment: Treatment
    duration: int
    addons: tuple[AddOn, ...] = ()

    @property
    def minutes(self) -> int:
        """How long the client is there: the treatment and its add-ons."""
        return self.duration + sum(addon.extra_min for addon in self.addons)

    @property
    def busy_s(self) -> int:
        """How long therapist and room are taken: the visit and the cleanup after it."""
        return (self.minutes + self.treatment.buffer_min) * 60

    @property
    def skills(self) -> frozenset[str]:
        return frozenset({self.treatment.requires.skill}
                         | {a.requires.skill for a in self.addons if a.requires.skill})

    @property
    def equipment(self) -> frozenset[str]:
        return self.treatment.requires.equipment.union(
            *(a.requires.equipment for a in self.addons))

    def can_use(self, room: Room) -> bool:
        return self.equipment <= room.equipment

    def can_be_given_by(self, therapist: Therapist) -> bool:
        return self.skills <= therapist.skills

    @property
    def addon_prices(self) -> list[tuple[AddOn, Money]]:
        return [(addon, addon.price_for(self.duration)) for addon in self.addons]

    @property
    def price(self) -> Money:
        total = self.treatment.price(self.duration)
        for _, price in self.addon_prices:
            total += price
        return total


KINDS = ("studios", "rooms", "therapists", "addons", "treatments")


@dataclass(frozen=True)
class Catalog:
    city: City
    equipment: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    studios: Mapping[str, Studio] = field(default_factory=dict)
    rooms: Mapping[str, Room] = field(default_factory=dict)
    therapists: Mapping[str, Therapist] = field(default_factory=dict)
    addons: Mapping[str, AddOn] = field(default_factory=dict)
    treatments: Mapping[str, Treatment] = field(default_factory=dict)

    @classmethod
    def empty(cls, city: str) -> Catalog:
        return cls(City(city, city, "UTC", "XXX"))

    def studio(self, ident: str) -> Studio:
        return _find(self.studios, ident, "studio")

    def treatment(self, ident: str) -> Treatment:
        return _find(self.treatments, ident, "treatment")

    def therapist(self, ident: str) -> Therapist:
        return _find(self.therapists, ident, "therapist")

    def order(self, treatment_id: str, duration: int, addon_ids: tuple[str, ...] = ()) -> Order:
        """The order asked for, if the treatment exists, comes in that length and allows
        those add-ons (refused naming each one that it does not)."""
        treatment = self.treatment(treatment_id)
        duration = treatment.offered(duration)
        wrong = [a for a in addon_ids if a not in treatment.addons or a not in self.addons]
        if wrong:
            raise Invalid("some fields are invalid", errors={"addons": [
                f"{a!r} is not an add-on of {treatment.id} (it offers: "
                f"{', '.join(treatment.addons) or 'none'})" for a in wrong]})
        return Order(treatment, duration, tuple(self.addons[a] for a in dict.fromkeys(addon_ids)))

    def window(self, studio: Studio, treatment: Treatment) -> BookingWindow:
        """The treatment's own booking window, else the studio's."""
        return treatment.booking_window or studio.booking_window

    def rooms_at(self, studio: str) -> list[Room]:
        return list(self._by_studio[0].get(studio, ()))

    def therapists_at(self, studio: str) -> list[Therapist]:
        return list(self._by_studio[1].get(studio, ()))

    @cached_property
    def _by_studio(self) -> tuple[dict[str, list[Room]], dict[str, list[Therapist]]]:
        """Rooms and staff per studio, once per catalog (a search asks for every day)."""
        rooms: dict[str, list[Room]] = {}
        staff: dict[str, list[Therapist]] = {}
        for room in self.rooms.values():
            rooms.setdefault(room.studio, []).append(room)
        for studio in self.studios:
            staff[studio] = [t for t in self.therapists.values() if t.works_at(studio)]
        return rooms, staff

    def offers(self, studio: str, treatment: Treatment) -> bool:
        """Some room has the equipment and some therapist there has the skill."""
        order = Order(treatment, treatment.durations_min[0])
        return (any(order.can_use(room) for room in self.rooms_at(studio))
                and any(order.can_be_given_by(t) for t in self.therapists_at(studio)))

    def alternatives(self, studio: str, treatment: Treatment) -> list[Treatment]:
        """Other treatments offered at `studio` that share none of its contraindications."""
        avoid = set(treatment.contraindications)
        return [t for t in self.treatments.values()
                if t.id != treatment.id and not avoid & set(t.contraindications)
                and self.offers(studio, t)]

    def with_entry(self, kind: str, entry) -> Catalog:
        """A copy with `entry` added to, or replacing its namesake in, `kind`."""
        return replace(self, **{kind: {**getattr(self, kind), entry.id: entry}})


@dataclass(frozen=True)
class Reservation:
    """A therapist and a room taken for [start, busy_until) at one studio: a hold
    until `expires_at`, or confirmed for a booking (`expires_at` 0)."""

    hold_id: str
    studio: str
    treatment: str
    duration: int
    therapist: str
    room: str
    start: int
    end: int  # the treatment's end; `busy_until` adds the cleanup buffer
    busy_until: int
    price: Money
    expires_at: int = 0
    booking_id: str = ""
    addons: tuple[str, ...] = ()
    # Each add-on's price and the studio's policy when the time was taken: a retried call
    # answers with them, whatever the catalog says since. Empty, None: older records.
    addon_prices: tuple[Decimal, ...] = ()
    cancellation: CancellationPolicy | None = None

    @property
    def confirmed(self) -> bool:
        return self.expires_at == 0

    def is_live(self, now: int) -> bool:
        """Confirmed, or a hold that has not expired: it takes its time."""
        return self.confirmed or self.expires_at > now


def _find(table: Mapping, ident: str, what: str):
    if ident not in table:
        raise NotFound(f"no such {what}: {ident}")
    return table[ident]


@lru_cache(maxsize=1 << 16)  # searches render the same grid instants again and again
def iso(instant: int) -> str:
    """RFC 3339 in UTC, as instants travel on the wire."""
    return datetime.fromtimestamp(instant, UTC).isoformat()
