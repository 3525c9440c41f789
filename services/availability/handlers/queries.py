"""What partners read: the city's studios and treatments, and free slots."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date

from services.availability import engine, slot_cache
from services.availability.bootstrap import Context
from services.availability.commands import SearchSlots, StudioDay
from services.availability.domain import (
    AddOn,
    BookingWindow,
    Catalog,
    Reservation,
    Room,
    Studio,
    Therapist,
    Treatment,
    iso,
)
from services.availability.slot_cache import Day
from services.common.auth import Principal
from services.common.money import Money


@dataclass(frozen=True)
class AddOnOffer:
    """An add-on as a treatment offers it: with its price for each of its lengths."""

    addon: AddOn
    prices: dict[int, Money]

    def __getattr__(self, name: str):
        return getattr(self.addon, name)


@dataclass(frozen=True)
class Offered:
    """A treatment as partners see it: with its add-ons and, at each studio they see,
    the booking window in force."""

    treatment: Treatment
    addon_offers: list[AddOnOffer]
    booking_windows: dict[str, BookingWindow]

    def __getattr__(self, name: str):
        return getattr(self.treatment, name)


def visible_studios(ctx: Context, principal: Principal) -> list[Studio]:
    return [s for s in ctx.catalog().studios.values() if principal.sees(s.id)]


def treatments(ctx: Context, principal: Principal) -> list[Offered]:
    catalog = ctx.catalog()
    studios = visible_studios(ctx, principal)
    return [Offered(t, addon_offers(catalog, t), {s.id: catalog.window(s, t) for s in studios})
            for t in catalog.treatments.values()]


def addon_offers(catalog: Catalog, treatment: Treatment) -> list[AddOnOffer]:
    addons = [catalog.addons[a] for a in treatment.addons]
    return [AddOnOffer(a, {d: a.price_for(d) for d in treatment.durations_min}) for a in addons]


@dataclass(frozen=True)
class TherapistDay:
    therapist: Therapist
    shifts: list[engine.Span]
    time_off: list[engine.Span]


@dataclass(frozen=True)
class Closure:
    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class DaySchedule:
    """Who and what a studio has on one local day, and what takes their time: the
    front desk's timeline. Reservations carry no booking or partner: at a studio two
    partners share, each sees the other's time only as taken."""

    studio: Studio
    day: date
    span: engine.Span  # local midnight to the next: 23 or 25 hours on a clock-change day
    open: list[engine.Span]
    closures: list[Closure]
    rooms: list[Room]
    therapists: list[TherapistDay]
    reservations: list[Reservation]


def schedule(ctx: Context, principal: Principal, asked: StudioDay) -> DaySchedule:
    principal.require_studio(asked.studio, f"studio: {asked.studio}")
    catalog, now = ctx.catalog(), ctx.now()
    studio = catalog.studio(asked.studio)
    zone, day = studio.zone, asked.day
    span = engine.day_span(zone, day)
    ledger = ctx.store.reservations({studio.id: (span.start, span.end)})
    return DaySchedule(
        studio, day, span,
        [engine.local_span(day, hours, zone) for hours in studio.hours_on(day)],
        [Closure(found.start, found.end, c.reason) for c in studio.closures
         if (found := within(engine.Span(*c.span(zone)), span))],
        catalog.rooms_at(studio.id),
        [therapist_day(studio, t, day, span) for t in catalog.therapists_at(studio.id)],
        sorted((r for r in ledger
                if r.is_live(now) and engine.Span(r.start, r.busy_until).overlaps(span)),
               key=lambda r: (r.start, r.room)))


def therapist_day(studio: Studio, therapist: Therapist, day: date,
                  span: engine.Span) -> TherapistDay:
    zone = studio.zone
    shifts = [engine.local_span(day, hours, zone) for hours in therapist.hours_at(studio.id, day)]
    off = [found for absence in therapist.time_off
           if (found := within(engine.Span(*absence.span(zone)), span))]
    return TherapistDay(therapist, shifts, off)


def within(part: engine.Span, whole: engine.Span) -> engine.Span | None:
    """The piece of `part` inside `whole`, if any."""
    if not part.overlaps(whole):
        return None
    return engine.Span(max(part.start, whole.start), min(part.end, whole.end))


def search_slots(ctx: Context, principal: Principal, search: SearchSlots) -> bytes:
    """The JSON body of a slot search, `{"items": [...]}`. The hot path: a repeated
    search is answered with the bytes of its last answer while they still hold, and a
    new one is put together from studio-days computed before (slot_cache.py)."""
    # Versions are read before the ledger: a write in between only makes a later miss.
    catalog_version, catalog, every_ledger = ctx.versions_now()
    query = slot_query(catalog, principal, search)
    studios = tuple(studio.id for studio in query.studios)
    key = (catalog_version, search.treatment, search.duration, search.addons, studios,
           search.first, search.last, search.therapist, search.therapist_gender)
    ledgers, now = {s: every_ledger[s] for s in studios}, ctx.now()
    versions = tuple(ledgers.values())
    if (body := ctx.slots.get(key, versions, now)) is None:
        body, until = assembled(ctx, Versions(catalog_version, ledgers), catalog, query, now)
        ctx.slots.put(key, versions, until, body)
    return body


@dataclass(frozen=True)
class Versions:
    catalog: int
    ledgers: dict[str, int]


def slot_query(catalog: Catalog, principal: Principal, search: SearchSlots) -> engine.SlotQuery:
    order = catalog.order(search.treatment, search.duration, search.addons)
    if search.therapist:
        catalog.therapist(search.therapist)
    studios = searched_studios(catalog, principal, search.studio)
    return engine.SlotQuery(order, studios, search.first, search.last, search.therapist,
                            search.therapist_gender)


def searched_studios(catalog: Catalog, principal: Principal,
                     studio: str | None) -> tuple[Studio, ...]:
    if studio is None:
        return tuple(s for s in catalog.studios.values() if principal.sees(s.id))
    principal.require_studio(studio, f"studio: {studio}")
    return (catalog.studio(studio),)


def assembled(ctx: Context, versions: Versions, catalog: Catalog, query: engine.SlotQuery,
              now: int) -> tuple[bytes, int]:
    """The search's body from its studio-days (cached or computed now), cut to each
    studio's booking window; and until when it holds without a write."""
    asked = {s.id: engine.query_span(s, query.first, query.last) for s in query.studios}
    windows = {s.id: engine.bookable_span(catalog, s, query.order, asked[s.id], now)
               for s in query.studios}
    wanted = [(s, day) for s in query.studios for day in engine.local_days(s.zone, windows[s.id])]
    days = studio_days(ctx, versions, catalog, query, wanted, now)
    items = sorted((start, studio, slot) for (studio, _), day in days.items()
                   for start, slot in day.slots
                   if windows[studio].start <= start < windows[studio].end)
    body = b'{"items": [' + b", ".join(slot for _, _, slot in items) + b"]}"
    # The booking horizon, not the query, ends some studio's search: it moves with time.
    horizon_cut = any(windows[s].end < asked[s].end for s in asked)
    return body, slot_cache.valid_until(
        list(days.values()), leaving(catalog, query, items), horizon_cut, now)


def studio_days(ctx: Context, versions: Versions, catalog: Catalog, query: engine.SlotQuery,
                wanted: list[tuple[Studio, date]], now: int) -> dict[tuple[str, date], Day]:
    """Each wanted studio-day: cached while its studio's ledger is unchanged, else
    recomputed from the ledger (or kept, if its own reservations did not change)."""
    found, stale = {}, []
    for studio, day in wanted:
        key = day_key(versions, query, studio.id, day)
        cached = ctx.days.get(key)
        if cached and cached.serves(versions.ledgers[studio.id], now):
            found[(studio.id, day)] = cached
        else:
            stale.append(Stale(studio, day, key, cached))
    return found | recomputed(ctx, versions, catalog, query, stale, now) if stale else found


@dataclass(frozen=True)
class Stale:
    """A studio-day whose studio's ledger changed since it was kept (if it was)."""

    studio: Studio
    day: date
    key: tuple
    cached: Day | None


def recomputed(ctx: Context, versions: Versions, catalog: Catalog, query: engine.SlotQuery,
               stale: list[Stale], now: int) -> dict[tuple[str, date], Day]:
    """The stale studio-days, from one read of their studios' ledgers."""
    spans: dict[str, engine.Span] = {}
    for s in stale:
        whole = engine.day_span(s.studio.zone, s.day)
        span = spans.get(s.studio.id, whole)
        spans[s.studio.id] = engine.Span(min(span.start, whole.start), max(span.end, whole.end))
    ledger = ctx.store.reservations({studio: (span.start, span.end)
                                     for studio, span in spans.items()})
    by_studio: dict[str, list[Reservation]] = {}
    for r in ledger:
        if r.is_live(now):
            by_studio.setdefault(r.studio, []).append(r)
    return {(s.studio.id, s.day): studio_day(ctx, versions.ledgers[s.studio.id], catalog, query,
                                             s, by_studio.get(s.studio.id, []), now)
            for s in stale}


def studio_day(ctx: Context, ledger_version: int, catalog: Catalog, query: engine.SlotQuery,
               stale: Stale, live: list[Reservation], now: int) -> Day:
    span = engine.day_span(stale.studio.zone, stale.day)
    today = [r for r in live if r.start < span.end and span.start < r.busy_until]
    seen = slot_cache.fingerprint(today)
    if stale.cached and stale.cached.still(seen, now):  # another day of the studio changed
        fresh = replace(stale.cached, ledger_version=ledger_version)
    else:
        blocks = engine.blocks_at(catalog, stale.studio, today, now)
        slots = engine.day_slots(catalog, stale.studio, query, stale.day, blocks)
        fresh = Day(ledger_version, seen, slot_cache.holds_expire(today, now), encoded(slots))
    ctx.days.put(stale.key, fresh)
    return fresh


def encoded(slots: list[engine.Slot]) -> tuple[tuple[int, bytes], ...]:
    """Each slot's JSON (as Slot.to_json gives it), written with the parts a day's
    slots share encoded once: a city-wide search renders thousands."""
    if not slots:
        return ()
    head = f'{{"studio": {json.dumps(slots[0].studio)}, "start": "'
    price = json.dumps(slots[0].price.to_json())
    names: dict[tuple[str, ...], str] = {}
    out = []
    for slot in slots:
        if (therapists := names.get(slot.therapists)) is None:
            therapists = names[slot.therapists] = json.dumps(list(slot.therapists))
        text = (f'{head}{iso(slot.start)}", "end": "{iso(slot.end)}", "therapists": '
                f'{therapists}, "price": {price}}}')
        out.append((slot.start, text.encode()))
    return tuple(out)


def day_key(versions: Versions, query: engine.SlotQuery, studio: str, day: date) -> tuple:
    order = query.order
    return (versions.catalog, studio, day, order.treatment.id, order.duration,
            tuple(a.id for a in order.addons), query.therapist, query.therapist_gender)


def leaving(catalog: Catalog, query: engine.SlotQuery,
            items: list[tuple[int, str, bytes]]) -> list[int]:
    """When each studio's earliest offered start comes within its minimum notice."""
    first: dict[str, int] = {}
    for start, studio, _ in items:
        first.setdefault(studio, start)
    notice = {s.id: catalog.window(s, query.order.treatment).min_notice_min * 60
              for s in query.studios}
    return [slot_cache.leaves_notice(start, notice[studio]) for studio, start in first.items()]
