"""One plain function per command, query or worker job; the saga holds the steps
that span services."""

from __future__ import annotations

from services.booking import saga
from services.booking.bootstrap import Context
from services.booking.domain import Booking, BookingRequest, Hold, Replay, SlotRequest
from services.booking.domain import replay_decision as decide
from services.booking.store import Claim
from services.common.auth import Principal
from services.common.http import ApiError

SCAN_BATCHES = 10  # index pages one listing request reads at most while filtering


def create_hold(ctx: Context, principal: Principal, wanted: SlotRequest) -> Hold:
    if not principal.sees(wanted.studio):
        raise ApiError(404, "not_found", "no such studio")
    hold = saga.hold_slot(ctx, wanted)
    ctx.store.save_hold(hold)
    return hold


def drop_hold(ctx: Context, principal: Principal, hold_id: str) -> None:
    hold = ctx.store.get_hold(hold_id)
    if hold is None or not principal.sees(hold.studio):
        raise ApiError(404, "not_found", "no such hold")
    if not ctx.store.give_back_hold(hold.id):
        raise ApiError(409, "conflict", "the hold was booked or given back meanwhile")
    saga.release_now(ctx, hold.id)


def create_booking(ctx: Context, principal: Principal, request: BookingRequest,
                   claim: Claim) -> Booking:
    """Book once per Idempotency-Key: a replay answers with the booking it made."""
    if not ctx.store.claim(claim, ttl_s=2 * ctx.store.saga_timeout_s):
        return visible_booking(ctx, principal, _replayed_booking(ctx, claim))
    try:
        return saga.book(ctx, principal, request, claim)
    except BaseException:
        ctx.store.unclaim(claim)  # nothing was booked: the same key may try again
        raise


def _replayed_booking(ctx: Context, claim: Claim) -> str:
    record = ctx.store.claim_record(claim)
    decision = decide(record, claim.fingerprint)
    if decision is Replay.REPLAY:
        return record["booking"]
    if decision is Replay.CONFLICT:
        raise ApiError(409, "idempotency_conflict",
                       "this Idempotency-Key was used with a different body")
    # IN_PROGRESS, or NEW: the claim ended between our SET NX and this read.
    raise ApiError(409, "idempotency_in_progress",
                   "a request with this Idempotency-Key is still running; retry shortly",
                   headers={"Retry-After": "1"})


def visible_booking(ctx: Context, principal: Principal, booking_id: str) -> Booking:
    booking = ctx.store.get(booking_id)
    if booking is None or not booking.visible or not principal.sees(booking.studio):
        raise ApiError(404, "not_found", "no such booking")
    return booking


def list_bookings(ctx: Context, principal: Principal, limit: int, studio: str | None = None,
                  status: str | None = None, cursor: str | None = None, from_=None,
                  to=None) -> dict:
    """One page in start order. Filters apply while the index is read, so a page can
    be short; `next_cursor` is null only once the range is exhausted."""
    if studio and not principal.sees(studio):
        return {"items": [], "next_cursor": None}
    index = studio or _only_studio(principal)
    items: list[Booking] = []
    for _ in range(SCAN_BATCHES):
        page = ctx.store.index_page(index, from_, to, cursor, limit)
        for cursor, booking in page:  # the last member read is the next cursor
            if _listed(booking, principal, status):
                items.append(booking)
                if len(items) == limit:
                    return {"items": items, "next_cursor": cursor}
        if len(page) < limit:
            return {"items": items, "next_cursor": None}
    return {"items": items, "next_cursor": cursor}


def _listed(booking: Booking | None, principal: Principal, status: str | None) -> bool:
    return (booking is not None and principal.sees(booking.studio)
            and status in (None, booking.status))


def _only_studio(principal: Principal) -> str | None:
    """A partner of one studio reads that studio's index, not the whole city's."""
    if not principal.is_admin and len(principal.studios) == 1:
        return next(iter(principal.studios))
    return None


# worker jobs (queues.py runs them periodically)

def relay_outbox(ctx: Context) -> None:
    """Publish committed events, oldest first. When the broker is down, publish raises
    and the events wait for the next run; a duplicate after a crash between publish
    and mark_sent is harmless (consumers dedupe by envelope id)."""
    for envelope in ctx.store.due_events():
        ctx.infra.publisher.publish(envelope)
        ctx.store.mark_sent(envelope.id)


def undo_stale_sagas(ctx: Context) -> None:
    """Sagas past their deadline belong to a request that died: roll them back."""
    for booking_id in ctx.store.stale_sagas():
        booking = ctx.store.get(booking_id)
        if booking:
            saga.undo(ctx, booking)


def retry_releases(ctx: Context) -> None:
    for hold_id in ctx.store.due_releases():
        try:
            ctx.availability.release(hold_id)
        except saga.RPC_FAILURES:
            ctx.store.queue_release(hold_id, delay_s=saga.RELEASE_RETRY_S)
            return  # availability is not answering: try the rest later
        ctx.store.released(hold_id)
