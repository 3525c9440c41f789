"""The RPC booking calls (describe, hold, confirm, release), and the worker's sweep of
expired holds. Holds and confirms are decided here and written by the ledger's Lua
scripts (store.py), which refuse anything another caller took first."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.availability import engine
from services.availability.bootstrap import Context
from services.availability.commands import (
    Confirm,
    Describe,
    HoldFirst,
    HoldSlot,
    Release,
    Reserve,
)
from services.availability.domain import (
    BookingWindow,
    CancellationPolicy,
    Catalog,
    Named,
    Order,
    Reservation,
    Studio,
    Treatment,
    iso,
)
from services.availability.store import decode
from services.common.bus import Envelope
from services.common.errors import (
    Conflict,
    HoldExpired,
    Invalid,
    NotFound,
    OutsideBookingWindow,
    SlotUnavailable,
    SpaError,
)
from services.common.money import Money

log = logging.getLogger(__name__)

STALE_CATALOG_TRIES = 3  # an admin change between our read and our script: decide again


@dataclass(frozen=True)
class Description:
    """What booking needs to screen a client and word its events and emails."""

    studio: Studio
    treatment: Treatment
    alternatives: list[Treatment]
    booking_window: BookingWindow  # the treatment's at this studio


@dataclass(frozen=True)
class PricedAddOn:
    id: str
    name: str
    price: Money


@dataclass(frozen=True)
class PriceBreakdown:
    treatment: Money
    addons: list[PricedAddOn]
    total: Money


@dataclass(frozen=True)
class Held:
    """A reservation with the names of its therapist and room, its price item by
    item, and the cancellation policy it was made under (the hold's answer)."""

    reservation: Reservation
    therapist: Named
    room: Named
    price_breakdown: PriceBreakdown
    cancellation: CancellationPolicy
    catalog_version: int | None = None  # the catalog it was decided by (reserve says)

    @property
    def expires_at(self) -> int | None:
        return None if self.reservation.confirmed else self.reservation.expires_at


def describe(ctx: Context, command: Describe) -> Description:
    catalog = ctx.catalog()
    studio, treatment = catalog.studio(command.studio), catalog.treatment(command.treatment)
    return Description(studio, treatment, catalog.alternatives(studio.id, treatment),
                       catalog.window(studio, treatment))


def hold(ctx: Context, command: HoldSlot) -> Held:
    for _ in range(STALE_CATALOG_TRIES):
        if (held := hold_by_current_catalog(ctx, command)) is not None:
            return held
    raise Conflict("the catalog kept changing meanwhile; try again")


def reserve(ctx: Context, command: Reserve) -> Held:
    """Choose therapist and room, hold and confirm them for the booking, in one step
    (one script): the booking path's one round trip. The preferred therapist's pairs
    come first, then the best of the rest."""
    for _ in range(STALE_CATALOG_TRIES):
        if (held := reserve_by_current_catalog(ctx, command)) is not None:
            return held
    raise Conflict("the catalog kept changing meanwhile; try again")


def reserve_by_current_catalog(ctx: Context, command: Reserve) -> Held | None:
    version, catalog = ctx.versioned_catalog()
    now = ctx.now()
    studio, order = ordered(catalog, command)
    start, pairs = free_pairs_at(ctx, catalog, studio, order, command, now)
    # A stable sort: the preferred therapist first, each in its order. A preference for
    # someone the catalog no longer has (a client's old record) simply matches nobody.
    if command.prefer:
        pairs.sort(key=lambda pair: pair.therapist.id != command.prefer)
    wanted = unassigned(studio, order, start, command.hold_id, expires_at=0,
                        booking_id=command.booking_id)
    status, reserved = ctx.store.reserve(
        wanted, [(p.therapist.id, p.room.id) for p in pairs], now, version)
    if status == "stale":
        return None
    if status == "reserved":
        return replace(held_view(catalog, reserved), catalog_version=version)
    if status == "other_booking":
        raise Conflict("this hold id is another booking's", hold_id=command.hold_id)
    raise SlotUnavailable()


def ordered(catalog: Catalog, command: HoldSlot | Reserve) -> tuple[Studio, Order]:
    """The studio and the order a hold or a reserve asks for, and its named therapist:
    each known, else refused (404, 422)."""
    studio = catalog.studio(command.studio)
    order = catalog.order(command.treatment, command.duration, command.addons)
    if command.therapist:
        catalog.therapist(command.therapist)
    return studio, order


def free_pairs_at(ctx: Context, catalog: Catalog, studio: Studio, order: Order,
                  command: HoldSlot | Reserve, now: int) -> tuple[int, list[engine.Pair]]:
    """The start, if it can be booked now, and the therapist and room pairs free for
    it, best first."""
    start = bookable_start(studio, order, catalog.window(studio, order.treatment),
                           command.start, now)
    ledger = ctx.store.reservations({studio.id: (start, start + 1)})
    return start, engine.free_pairs(catalog, studio, order, start, ledger, now,
                                    command.therapist, command.therapist_gender)


def unassigned(studio: Studio, order: Order, start: int, hold_id: str, expires_at: int,
               booking_id: str = "") -> Reservation:
    """The reservation to write; therapist and room are the pair that wins."""
    return Reservation(
        hold_id=hold_id, studio=studio.id, treatment=order.treatment.id,
        duration=order.duration, therapist="", room="", start=start,
        end=start + order.minutes * 60, busy_until=start + order.busy_s,
        expires_at=expires_at, price=order.price, booking_id=booking_id,
        addons=tuple(a.id for a in order.addons),
        addon_prices=tuple(price.amount for _, price in order.addon_prices),
        cancellation=studio.cancellation)


def hold_first(ctx: Context, command: HoldFirst) -> Held:
    """Hold the earliest free start whose appointment lies wholly inside one of the
    windows, skipping the starts in `skip`: a waitlist offer. Each start is held as
    `hold` holds it; a retried call with the same hold id answers with the hold it
    made, wherever that is."""
    catalog = ctx.catalog()
    studio = catalog.studio(command.studio)
    if command.hold_id and (retried := ctx.store.find(studio.id, command.hold_id)):
        return held_view(catalog, retried)
    order = catalog.order(command.treatment, command.duration, command.addons)
    for start in starts_within(ctx, catalog, studio, order, command):
        try:
            return hold(ctx, command.at(start))
        except (SlotUnavailable, OutsideBookingWindow):
            continue  # taken since the search, or the window moved on: the next one
    raise SlotUnavailable("no free time within the windows")


def starts_within(ctx: Context, catalog: Catalog, studio: Studio, order,
                  command: HoldFirst) -> list[datetime]:
    """Free starts within the windows, earliest first."""
    now, starts = ctx.now(), set()
    for first, last in command.windows:
        query = engine.SlotQuery(order, (studio,), first, last, command.therapist,
                                 command.therapist_gender)
        span = engine.query_span(studio, first, last)
        ledger = ctx.store.reservations({studio.id: (span.start, span.end)})
        starts |= {slot.start for slot in engine.search(catalog, query, ledger, now)
                   if slot.end <= last.timestamp()}
    skipped = {int(moment.timestamp()) for moment in command.skip}
    return [datetime.fromtimestamp(s, UTC) for s in sorted(starts - skipped)]


def hold_by_current_catalog(ctx: Context, command: HoldSlot) -> Held | None:
    """The hold, or None when the catalog changed after it was read."""
    version, catalog = ctx.versioned_catalog()
    now = ctx.now()
    studio, order = ordered(catalog, command)
    hold_id = command.hold_id or uuid.uuid4().hex
    if retried := ctx.store.find(studio.id, hold_id):
        return held_view(catalog, retried)
    start, pairs = free_pairs_at(ctx, catalog, studio, order, command, now)
    expires_at = now + (command.ttl_s or ctx.infra.settings.hold_ttl_s)
    taken = hold_first_free(ctx, unassigned(studio, order, start, hold_id, expires_at),
                            pairs, now, version)
    return held_view(catalog, taken) if taken else None


def hold_first_free(ctx: Context, wanted: Reservation, pairs: list[engine.Pair], now: int,
                    catalog_version: int) -> Reservation | None:
    """Best pair first: another caller may take one between our read and our script.
    None when the catalog changed since `catalog_version` chose the pairs."""
    for pair in pairs:
        status, held = ctx.store.hold(
            replace(wanted, therapist=pair.therapist.id, room=pair.room.id), now,
            catalog_version)
        if status == "held":
            publish(ctx, "slot.held", held, expires_at=iso(held.expires_at))
        if status != "taken":  # held now, by a twin of this same call, or stale
            return held
    raise SlotUnavailable()


def bookable_start(studio: Studio, order: Order, window: BookingWindow, start: datetime,
                   now: int) -> int:
    """The start as an instant, if it can be booked now. The window is checked before
    the grid and the hours: a start too soon is told when it may be, at any hour."""
    instant = int(start.timestamp())
    if instant < now:
        raise Invalid.field("start", "is in the past")
    within_window(window, instant, now)
    if problem := engine.start_problem(studio, order.busy_s, instant):
        raise Invalid.field("start", problem)
    return instant


def within_window(window: BookingWindow, start: int, now: int) -> None:
    if not window.admits(start, now):
        raise OutsideBookingWindow(
            f"bookable from {window.min_notice_min} minutes to {window.max_advance_days} days "
            "ahead", earliest=iso(window.earliest(now)), latest=iso(window.latest(now)))


def held_view(catalog: Catalog, r: Reservation) -> Held:
    """The reservation as its hold answered, also to a retried call: the prices and the
    policy it was taken at (a record from before they were kept: the catalog's now)."""
    studio = catalog.studios.get(r.studio)
    policy = r.cancellation or (studio.cancellation if studio else CancellationPolicy())
    return Held(r, _named(catalog.therapists, r.therapist), _named(catalog.rooms, r.room),
                breakdown(catalog, r), policy)


def breakdown(catalog: Catalog, r: Reservation) -> PriceBreakdown:
    """The reservation's price item by item; the total is the one it was held at."""
    if len(r.addon_prices) == len(r.addons):
        priced = [PricedAddOn(a, _named(catalog.addons, a).name or a,
                              Money(amount, r.price.currency))
                  for a, amount in zip(r.addons, r.addon_prices, strict=True)]
    else:
        addons = [catalog.addons.get(a) for a in r.addons]
        priced = [PricedAddOn(a.id, a.name, a.price_for(r.duration)) for a in addons if a]
    treatment = Money(r.price.amount - sum(p.price.amount for p in priced), r.price.currency)
    return PriceBreakdown(treatment, priced, r.price)


def _named(table: dict, ident: str) -> Named:
    entry = table.get(ident)
    return Named(ident, entry.name if entry else "")


CONFIRM_REFUSALS: dict[str, tuple[type[SpaError], str]] = {
    "not_found": (NotFound, "no such hold"),
    "expired": (HoldExpired, "the hold passed its expires_at"),
    "other_booking": (SlotUnavailable, "the hold is confirmed for another booking"),
}


def confirm(ctx: Context, command: Confirm) -> dict:
    studio = ctx.store.studio_of(command.hold_id, ctx.catalog().studios)
    if studio is None:
        raise NotFound(f"no such hold: {command.hold_id}")
    status, _ = ctx.store.confirm(studio, command.hold_id, command.booking_id, ctx.now())
    if status in CONFIRM_REFUSALS:
        refusal, detail = CONFIRM_REFUSALS[status]
        raise refusal(detail, hold_id=command.hold_id)
    return {"hold_id": command.hold_id, "booking_id": command.booking_id,
            "status": "confirmed"}


def release(ctx: Context, command: Release) -> dict:
    """Free the time at once; the release script also records the news (relay_freed)."""
    studio = ctx.store.studio_of(command.hold_id, ctx.catalog().studios)
    released = ctx.store.release(studio, command.hold_id, ctx.now()) if studio else None
    return {"hold_id": command.hold_id, "released": released is not None}


def sweep_expired(ctx: Context) -> int:
    """Take expired holds off the ledgers, which records the news that their time is
    free (relay_freed says "expired"). Searches and holds ignore expired holds by
    themselves; the sweep is for the news, so it runs every second. Every replica
    sweeps: the release script claims each hold (lua/release.lua), so one frees it."""
    now, swept = ctx.now(), 0
    for studio in ctx.catalog().studios:
        for hold_id in ctx.store.expired_holds(studio, now):
            swept += ctx.store.release(studio, hold_id, now, expired_only=True) is not None
    return swept


NEWS = uuid.UUID("5d7e3a52-3c1e-4c8e-9a55-0b2f4f1c6f10")  # namespace of news envelope ids


def relay_freed(ctx: Context, still_ours: Callable[[], bool] = lambda: True) -> int:
    """Publish the news of freed time, oldest first, then forget it: AT-LEAST-ONCE. While
    the broker is down the news waits in the studio's freed set; a crash between
    publishing and forgetting publishes it again with the same envelope id (derived
    from the news itself), which consumers drop. A scan of every studio, run by the
    replica holding the job's lease (queues.py); `still_ours` renews it after each
    studio with news, and a run that lost it stops, leaving the rest to the holder."""
    relayed = 0
    for studio in ctx.catalog().studios:
        news = ctx.store.freed(studio)
        for raw, when in news:
            ctx.infra.publisher.publish(freed_envelope(ctx, studio, raw, when))
        ctx.store.relayed(studio, [raw for raw, _ in news])
        relayed += len(news)
        if news and not still_ours():
            break
    return relayed


def freed_envelope(ctx: Context, studio: str, raw: str, when: float) -> Envelope:
    """slot.released for a reservation taken off the ledger; slot.opened for a catalog
    change, which may have opened time anywhere in the studio's booking window."""
    ident = str(uuid.uuid5(NEWS, f"{ctx.city}:{studio}:{raw}"))
    news = json.loads(raw)
    if "hold_id" not in news:
        payload = {"studio": studio, "reason": "catalog", "at": iso(int(when))}
        return Envelope("slot.opened", payload, "availability", ctx.city, id=ident)
    r = decode(raw)
    reason = "expired" if r.expires_at and r.expires_at <= when else "released"
    return Envelope("slot.released", slot_payload(r, reason=reason), "availability", ctx.city,
                    id=ident)


def slot_payload(r: Reservation, **extra) -> dict:
    payload = {"hold_id": r.hold_id, "studio": r.studio, "therapist": r.therapist,
               "room": r.room, "start": iso(r.start), "end": iso(r.end), **extra}
    if r.booking_id:
        payload["booking_id"] = r.booking_id
    return payload


def publish(ctx: Context, event_type: str, r: Reservation, **extra) -> None:
    """Best effort (slot.held): the ledger, not the event, is the truth, so a broker
    outage must not undo a hold that is already written. Booking learns every outcome
    from the RPC."""
    payload = slot_payload(r, **extra)
    try:
        ctx.infra.publisher.publish(Envelope(event_type, payload, "availability", ctx.city))
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("event not published", extra={"type": event_type, "hold": r.hold_id})
