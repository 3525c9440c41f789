"""Holds and bookings: what partners ask of them, each checking once what the caller
may see; the steps that span services are in saga.py."""

from __future__ import annotations

from dataclasses import replace

from services.booking import saga
from services.booking.bootstrap import Context
from services.booking.commands import (
    BookingRequest,
    Cancel,
    Finish,
    ListBookings,
    Reschedule,
    SlotRequest,
)
from services.booking.domain import Booking, Hold, Preferences, Replay
from services.booking.domain import replay_decision as decide
from services.booking.handlers import clients
from services.booking.store import Claim
from services.common.auth import Principal
from services.common.errors import (
    Conflict,
    HoldExpired,
    IdempotencyConflict,
    IdempotencyInProgress,
    NotFound,
)

SCAN_BATCHES = 10  # index pages one listing request reads at most while filtering


# holds

def create_hold(ctx: Context, principal: Principal, wanted: SlotRequest) -> Hold:
    principal.require_studio(wanted.studio, "studio")
    preferences = (clients.visible_client(ctx, principal, wanted.client).preferences
                   if wanted.client else Preferences())
    hold = replace(saga.hold_preferring(ctx, wanted, preferences), owner=principal.owner)
    ctx.store.save_hold(hold)
    return hold


def drop_hold(ctx: Context, principal: Principal, hold_id: str) -> None:
    hold = partner_hold(ctx, principal, hold_id)
    if not ctx.store.give_back_hold(hold.id):
        raise Conflict("the hold was booked or given back meanwhile")
    saga.release_now(ctx, hold.id)


def partner_hold(ctx: Context, principal: Principal, hold_id: str) -> Hold:
    hold = ctx.store.get_hold(hold_id)
    if hold is None:
        raise NotFound("no such hold")
    principal.require_visible(hold.studio, hold.owner, "hold")
    return hold


# bookings

def create_booking(ctx: Context, principal: Principal, request: BookingRequest,
                   claim: Claim) -> Booking:
    """Book once per Idempotency-Key: a replay answers with the booking it made (its
    hold is gone by then, so the key is claimed before anything is checked)."""
    if not ctx.store.claim(claim, ttl_s=2 * ctx.store.saga_timeout_s):
        return get_booking(ctx, principal, replayed_id(ctx, claim))
    try:
        taken = _usable_hold(ctx, principal, request.hold) if request.hold else None
        if not taken:
            principal.require_studio(request.slot.studio, "studio")
        client, on_record = clients.client_for(ctx, principal, request)
        booked = saga.book(ctx, request, client, principal.owner, taken, claim)
    except BaseException:
        ctx.store.unclaim(claim)  # nothing was booked: the same key may try again
        raise
    if not on_record:
        booked = clients.record_new_client(ctx, booked, client)
    if request.intake:  # the answers given now are the client's latest on record
        ctx.clients.record_intake(booked.client, request.intake, ctx.clock.now())
    return clients.forget_if_erased(ctx, booked)


def _usable_hold(ctx: Context, principal: Principal, hold_id: str) -> Hold:
    hold = partner_hold(ctx, principal, hold_id)
    if hold.expired(ctx.clock.now()):
        raise HoldExpired("the hold passed expires_at")
    return hold


def replayed_id(ctx: Context, claim: Claim) -> str:
    """What the first request with this key made (a booking, or a waitlist entry)."""
    record = ctx.store.claim_record(claim)
    decision = decide(record, claim.fingerprint)
    if decision is Replay.REPLAY:
        return record["booking"]
    if decision is Replay.CONFLICT:
        raise IdempotencyConflict()
    raise IdempotencyInProgress()  # or NEW: the claim ended between SET NX and this read


def get_booking(ctx: Context, principal: Principal, booking_id: str) -> Booking:
    booking = ctx.store.get(booking_id)
    if booking is None or not booking.visible:
        raise NotFound("no such booking")
    principal.require_visible(booking.studio, booking.owner, "booking")
    return booking


def cancel_booking(ctx: Context, principal: Principal, command: Cancel) -> Booking:
    return saga.cancel(ctx, get_booking(ctx, principal, command.booking_id), command.reason)


def reschedule_booking(ctx: Context, principal: Principal, command: Reschedule) -> Booking:
    booking = get_booking(ctx, principal, command.booking_id)
    return saga.reschedule(ctx, booking, command.start, command.therapist)


def finish_booking(ctx: Context, principal: Principal, command: Finish) -> Booking:
    return saga.finish(ctx, get_booking(ctx, principal, command.booking_id), command.outcome)


def list_bookings(ctx: Context, principal: Principal, query: ListBookings) -> dict:
    """One page in start order; a partner's own bookings only. Filters apply while the
    index is read, so a page can be short; `next_cursor` is null only once the range
    is exhausted."""
    if query.studio and not principal.sees(query.studio):
        return {"items": [], "next_cursor": None}
    index, cursor, limit = query.studio or _only_studio(principal), query.cursor, query.limit
    items: list[Booking] = []
    for _ in range(SCAN_BATCHES):
        page = ctx.store.index_page(index, query.first, query.last, cursor, limit)
        for cursor, booking in page:  # the last member read is the next cursor
            if _listed(booking, principal, query.status):
                items.append(booking)
                if len(items) == limit:
                    return {"items": items, "next_cursor": cursor}
        if len(page) < limit:
            return {"items": items, "next_cursor": None}
    return {"items": items, "next_cursor": cursor}


def _listed(booking: Booking | None, principal: Principal, status: str | None) -> bool:
    return (booking is not None and principal.sees_own(booking.studio, booking.owner)
            and status in (None, booking.status))


def _only_studio(principal: Principal) -> str | None:
    """A partner of one studio reads that studio's index, not the whole city's."""
    if not principal.is_admin and len(principal.studios) == 1:
        return next(iter(principal.studios))
    return None
