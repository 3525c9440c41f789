"""The slot search, and the choice of therapist and room for a hold. Pure: the catalog
and the live reservations come in, slots go out.

Time rules, the ones peers get wrong:
- starts lie on the studio's step grid in LOCAL time, inside a shift, and are walked
  as real instants from there, so the spring-forward gap offers nothing and the
  repeated autumn hour offers each real instant once;
- a treatment and its cleanup must fit inside the shift in real elapsed time, and
  never run across a clock change (the wall clock would disagree with its length).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache, reduce
from operator import or_
from typing import NamedTuple
from zoneinfo import ZoneInfo

from services.availability.domain import (
    DAY_S,
    Catalog,
    Order,
    Reservation,
    Room,
    Studio,
    Therapist,
    TimeRange,
    instant_of,
    iso,
    minute_of_day,
)
from services.common.money import Money


@dataclass(frozen=True)
class Span:
    """[start, end) in epoch seconds."""

    start: int
    end: int

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class SlotQuery:
    """Starts in [first, last] for dates (whole local days), [first, last) for instants."""

    order: Order
    studios: tuple[Studio, ...]
    first: date | datetime
    last: date | datetime
    therapist: str | None = None
    therapist_gender: str | None = None


class Slot(NamedTuple):
    """A bookable start (a named tuple: a city-wide search makes thousands)."""

    studio: str
    start: int
    end: int
    therapists: tuple[str, ...]
    price: Money

    def to_json(self) -> dict:
        return {"studio": self.studio, "start": iso(self.start), "end": iso(self.end),
                "therapists": list(self.therapists), "price": self.price.to_json()}


@dataclass(frozen=True)
class Blocks:
    """What already takes each therapist's and room's time at one studio: live
    reservations, time off and closures."""

    therapists: dict[str, list[Span]]
    rooms: dict[str, list[Span]]

    def within(self, span: Span) -> Blocks:
        """Only the blocks that overlap `span`."""
        def near(table: dict[str, list[Span]]) -> dict[str, list[Span]]:
            return {name: [b for b in spans if b.overlaps(span)] for name, spans in table.items()}

        return Blocks(near(self.therapists), near(self.rooms))


@dataclass(frozen=True)
class Pair:
    therapist: Therapist
    room: Room


def search(catalog: Catalog, query: SlotQuery, reservations: Iterable[Reservation],
           now: int) -> list[Slot]:
    """Every bookable start, sorted by start; each lists the therapists who can take it."""
    reservations = list(reservations)
    slots = []
    for studio in query.studios:
        blocks = blocks_at(catalog, studio, reservations, now)
        window = bookable_span(catalog, studio, query.order,
                               query_span(studio, query.first, query.last), now)
        for day in local_days(studio.zone, window):
            slots += [slot for slot in day_slots(catalog, studio, query, day, blocks)
                      if window.start <= slot.start < window.end]
    return sorted(slots, key=lambda slot: (slot.start, slot.studio))


def day_slots(catalog: Catalog, studio: Studio, query: SlotQuery, day: date,
              blocks: Blocks) -> list[Slot]:
    """Every start of one local day that a therapist on shift and a room are free for,
    whatever the booking window (the caller cuts it: it moves with the clock, the day's
    answer does not). Free time is a bitset of the day's minutes per therapist and
    room; a start fits where `busy` minutes in a row are free."""
    order = query.order
    grid = DayGrid(day_span(studio.zone, day), order.busy_s // 60)
    today = blocks.within(grid.span)
    rooms = 0
    for room in able_rooms(catalog, studio, order):
        rooms |= grid.fits(today.rooms.get(room.id, []))
    able = able_therapists(catalog, studio, order, query.therapist, query.therapist_gender)
    starts = {t.id: grid.starts(studio, day, t, today) & rooms for t in sorted(able, key=_id)}
    length_s, price = order.minutes * 60, order.price
    return [Slot(studio.id, start, start + length_s,
                 tuple(t for t, mask in starts.items() if mask >> bit & 1), price)
            for bit, start in grid.instants(reduce(or_, starts.values(), 0))]


def _id(therapist: Therapist) -> str:
    return therapist.id


@dataclass(frozen=True)
class DayGrid:
    """A local day as a row of minutes (real elapsed ones: a clock-change day has 23
    or 25 hours), bit n for the minute starting `span.start + 60 n`."""

    span: Span
    busy_min: int

    def mask(self, spans: Iterable[Span]) -> int:
        """The minutes that `spans` touch, even in part."""
        mask, origin, size = 0, self.span.start, (self.span.end - self.span.start) // 60
        for span in spans:
            first = max(0, (span.start - origin) // 60)
            last = min(size, -(-(span.end - origin) // 60))
            if first < last:
                mask |= ((1 << (last - first)) - 1) << first
        return mask

    def fits(self, blocked: list[Span]) -> int:
        """The minutes from which `busy_min` free minutes follow (within the day)."""
        size = (self.span.end - self.span.start) // 60
        return runs(~self.mask(blocked) & ((1 << size) - 1), self.busy_min)

    def starts(self, studio: Studio, day: date, therapist: Therapist, blocks: Blocks) -> int:
        """The therapist's grid starts (inside a shift) with free time to give it."""
        grid = 0
        for hours in therapist.hours_at(studio.id, day):
            for start in grid_starts(studio, day, hours, self.busy_min * 60):
                grid |= 1 << ((start - self.span.start) // 60)
        return grid & self.fits(blocks.therapists.get(therapist.id, [])) if grid else 0

    def instants(self, mask: int) -> Iterator[tuple[int, int]]:
        """(bit, instant) of each set bit, earliest first."""
        while mask:
            low = mask & -mask
            bit = low.bit_length() - 1
            yield bit, self.span.start + 60 * bit
            mask ^= low


def runs(free: int, length: int) -> int:
    """Bit i set where bits i .. i+length-1 of `free` are all set. Doubling: `block`
    holds the runs of `size` bits, and `found` grows by whole blocks, so this takes
    O(log length) big-integer operations, not one per start and minute."""
    found, covered, block, size = -1, 0, free, 1
    while length:
        if length & 1:
            found &= block >> covered
            covered += size
        length >>= 1
        if length:
            block &= block >> size
            size *= 2
    return found & free if covered else 0


def bookable_span(catalog: Catalog, studio: Studio, order: Order, wanted: Span,
                  now: int) -> Span:
    """The part of `wanted` whose starts the booking window admits (its end included)."""
    window = catalog.window(studio, order.treatment)
    return Span(max(wanted.start, window.earliest(now)),
                min(wanted.end, window.latest(now) + 1))


def is_free(span: Span, blocked: list[Span]) -> bool:
    # Span.overlaps written out: this is the search's innermost check.
    return not any(span.start < b.end and b.start < span.end for b in blocked)


def able_rooms(catalog: Catalog, studio: Studio, order: Order) -> list[Room]:
    return [room for room in catalog.rooms_at(studio.id) if order.can_use(room)]


def able_therapists(catalog: Catalog, studio: Studio, order: Order, only: str | None = None,
                    gender: str | None = None) -> list[Therapist]:
    return [t for t in catalog.therapists_at(studio.id)
            if order.can_be_given_by(t) and only in (None, t.id)
            and gender in (None, t.gender)]


def grid_starts(studio: Studio, day: date, hours: TimeRange, busy_s: int) -> range | list[int]:
    """Starts on the studio's local grid whose treatment and cleanup fit inside `hours`
    of local `day`; none that would run across a clock change."""
    zone, step = studio.zone, studio.slot_step_min
    begin, end = hours.minutes
    first = local_instant(day, -(-begin // step) * step, zone)
    closing = local_instant(day, end, zone)
    starts = range(first, closing - busy_s + 1, step * 60)
    if utc_offset(zone, first) == utc_offset(zone, closing):
        return starts  # no clock change within these hours: the common case
    return [s for s in starts if utc_offset(zone, s) == utc_offset(zone, s + busy_s)]


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> int:
    # Aware datetime + timedelta is wall-clock arithmetic: 09:00 stays 09:00 local.
    return int((datetime.combine(day, time(), zone) + timedelta(minutes=minutes)).timestamp())


def local_span(day: date, hours: TimeRange, zone: ZoneInfo) -> Span:
    begin, end = hours.minutes
    return Span(local_instant(day, begin, zone), local_instant(day, end, zone))


def utc_offset(zone: ZoneInfo, instant: int) -> timedelta | None:
    return datetime.fromtimestamp(instant, zone).utcoffset()


def local_day(zone: ZoneInfo, instant: int) -> date:
    return datetime.fromtimestamp(instant, zone).date()


@lru_cache(maxsize=1 << 14)  # asked for each studio-day of every search
def day_span(zone: ZoneInfo, day: date) -> Span:
    return Span(local_instant(day, 0, zone), local_instant(day + timedelta(days=1), 0, zone))


def local_days(zone: ZoneInfo, window: Span) -> list[date]:
    if window.end <= window.start:
        return []
    first, last = local_day(zone, window.start), local_day(zone, window.end - 1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def query_span(studio: Studio, first: date | datetime, last: date | datetime) -> Span:
    zone = studio.zone
    return Span(instant_of(first, zone), instant_of(last, zone, day_end=True))


def blocks_at(catalog: Catalog, studio: Studio, reservations: Iterable[Reservation],
              now: int) -> Blocks:
    zone = studio.zone
    closures = [Span(*closure.span(zone)) for closure in studio.closures]
    therapists = {t.id: [Span(*off.span(zone)) for off in t.time_off] + closures
                  for t in catalog.therapists_at(studio.id)}
    rooms = {room.id: list(closures) for room in catalog.rooms_at(studio.id)}
    for r in reservations:
        if r.studio == studio.id and r.is_live(now):
            taken = Span(r.start, r.busy_until)
            therapists.setdefault(r.therapist, []).append(taken)
            rooms.setdefault(r.room, []).append(taken)
    return Blocks(therapists, rooms)


# Holds ------------------------------------------------------------------------------

def start_problem(studio: Studio, busy_s: int, start: int) -> str | None:
    """Why `start` can never be booked at this studio, or None when it can."""
    local = datetime.fromtimestamp(start, studio.zone)
    if local.second or minute_of_day(local.time()) % studio.slot_step_min:
        return f"not on the studio's {studio.slot_step_min}-minute grid"
    if not any(start in grid_starts(studio, local.date(), hours, busy_s)
               for hours in studio.hours_on(local.date())):
        return "the treatment and its cleanup do not fit inside the opening hours"
    return None


def free_pairs(catalog: Catalog, studio: Studio, order: Order, start: int,
               reservations: Iterable[Reservation], now: int, therapist: str | None = None,
               gender: str | None = None) -> list[Pair]:
    """Every (therapist, room) free to take this start, best first."""
    busy_s = order.busy_s
    span, day = Span(start, start + busy_s), local_day(studio.zone, start)
    blocks = blocks_at(catalog, studio, reservations, now)
    therapists = [t for t in able_therapists(catalog, studio, order, therapist, gender)
                  if on_shift(studio, t, day, start, busy_s)
                  and is_free(span, blocks.therapists.get(t.id, []))]
    rooms = [room for room in able_rooms(catalog, studio, order)
             if is_free(span, blocks.rooms.get(room.id, []))]
    pairs = [Pair(t, room) for t in therapists for room in rooms]
    return sorted(pairs, key=lambda pair: pair_cost(pair, order, span, blocks))


def on_shift(studio: Studio, therapist: Therapist, day: date, start: int, busy_s: int) -> bool:
    return any(start in grid_starts(studio, day, hours, busy_s)
               for hours in therapist.hours_at(studio.id, day))


def pair_cost(pair: Pair, order: Order, span: Span, blocks: Blocks) -> tuple:
    """Keep special rooms for the treatments that need them (the bars room stays free
    for ashiatsu); then pack the day tight, so free time stays in usable blocks; ids
    break ties, so the choice is deterministic."""
    spare_equipment = len(pair.room.equipment - order.equipment)
    idle = (idle_before(span, blocks.therapists.get(pair.therapist.id, []))
            + idle_before(span, blocks.rooms.get(pair.room.id, [])))
    return spare_equipment, idle, pair.therapist.id, pair.room.id


def idle_before(span: Span, blocked: list[Span]) -> int:
    """Seconds the resource would sit idle right before `span` (a day when it was free)."""
    ends = [block.end for block in blocked if block.end <= span.start]
    return min(span.start - max(ends), DAY_S) if ends else DAY_S


# Catalog changes --------------------------------------------------------------------

def misfit(catalog: Catalog, r: Reservation) -> str | None:
    """Why a reservation no longer fits the catalog (None when it still does): the
    check that keeps an admin change from stranding a confirmed booking."""
    studio = catalog.studios.get(r.studio)
    therapist, room = catalog.therapists.get(r.therapist), catalog.rooms.get(r.room)
    treatment = catalog.treatments.get(r.treatment)
    addons = [catalog.addons.get(a) for a in r.addons]
    if not (studio and therapist and room and treatment and all(addons)):
        return "its studio, therapist, room, treatment or an add-on no longer exists"
    order = Order(treatment, r.duration, tuple(addons))
    if room.studio != studio.id or not order.can_use(room):
        return f"room {room.id} lacks the equipment for {treatment.id}"
    if not order.can_be_given_by(therapist):
        return f"therapist {therapist.id} lacks a skill it needs ({', '.join(order.skills)})"
    return time_misfit(studio, therapist, Span(r.start, r.busy_until))


def time_misfit(studio: Studio, therapist: Therapist, span: Span) -> str | None:
    zone, day = studio.zone, local_day(studio.zone, span.start)
    if not any(local_span(day, h, zone).contains(span) for h in studio.hours_on(day)):
        return "outside the studio's opening hours"
    if not any(local_span(day, h, zone).contains(span)
               for h in therapist.hours_at(studio.id, day)):
        return f"outside therapist {therapist.id}'s shifts"
    if not is_free(span, [Span(*c.span(zone)) for c in studio.closures]):
        return "the studio is closed then"
    if not is_free(span, [Span(*off.span(zone)) for off in therapist.time_off]):
        return f"therapist {therapist.id} is off then"
    return None
