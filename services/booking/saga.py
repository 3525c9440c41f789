"""The steps that span booking and availability, each with its compensation.
Handlers (handlers.py) check who may ask; the saga only does it.

Booking (from a hold made earlier, or directly):
  1. screen the intake against the treatment (RPC `describe`): before any time is held
  2. hold the slot (RPC), or take the partner's hold
  3. commit the booking as `pending`: it names its hold, so a crash leaves a trace
  4. confirm the hold (RPC)
  5. commit `confirmed` with its booking.created event and the idempotency receipt,
     in one MULTI: the event is written by the state change that makes it true, so
     nothing that says "booked" can exist for a booking whose confirm failed
If 4 fails: commit `failed` and release the hold. If the process dies between 3 and
5, the worker finds the booking past its deadline and does the same (`undo`).

Reschedule: record the new hold on the booking, hold it, confirm it, then commit the
move and release the old hold; on any failure the new hold is released and the
booking stays as it was.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import datetime

from services.booking import domain
from services.booking.bootstrap import Context
from services.booking.commands import BookingRequest, SlotRequest
from services.booking.domain import Booking, Client, Description, Hold, Intake, Preferences
from services.booking.schemas import event_payload
from services.booking.store import Change, Claim
from services.common import bus
from services.common.correlation import correlation_id
from services.common.errors import (
    Conflict,
    Invalid,
    NotFound,
    SlotUnavailable,
    SpaError,
    Unavailable,
)
from services.common.rpc import RpcTimeout

log = logging.getLogger(__name__)

RELEASE_RETRY_S = 1.0  # how long a release waits before the worker tries it (again)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def book(ctx: Context, request: BookingRequest, client: Client, owner: str,
         taken: Hold | None = None, claim: Claim | None = None) -> Booking:
    """Book `taken` (a partner's hold) or `request.slot` for `client`."""
    wanted = taken or request.slot
    described = ctx.availability.describe(wanted.studio, wanted.treatment)
    screening = domain.screen(answers_for(ctx, request.intake, client, described), described)
    customer = request.customer or client.customer
    if taken is None:
        slot = domain.with_preferences(request.slot, client.preferences)
        pending = domain.pending_booking(new_id("bk"), slot, new_id("h"), customer, screening,
                                         ctx.clock.now())
        return reserve(ctx, replace(pending, client=client.id, owner=owner), slot,
                       client.preferences.therapist, described, claim)
    booking = replace(domain.new_booking(new_id("bk"), taken, customer, screening, described,
                                         ctx.clock.now()), client=client.id, owner=owner)
    pending = ctx.store.commit(Change(booking, takes_hold=taken.id))
    if pending is None:  # another booking took the hold first
        raise NotFound("no such hold")
    return _confirm(ctx, pending, claim)


def reserve(ctx: Context, booking: Booking, wanted: SlotRequest, prefer: str | None,
            described: Description, claim: Claim | None) -> Booking:
    """The one-round-trip path: commit the booking pending (with the hold id it will
    reserve under), reserve therapist and room time for it in one call, commit it
    confirmed. A reply that never comes leaves the pending booking, which is undone
    like any saga (its hold id released, at once and again once a late call is
    surely over)."""
    pending = commit(ctx, Change(booking))
    try:
        hold = ctx.availability.reserve(wanted, pending.hold_id, pending.id, prefer)
    except Unavailable:  # no answer: free the hold now, and again once a late call is over
        undo(ctx, pending, late_call_possible=True)
        raise
    except SpaError:  # refused (taken, unknown, invalid): nothing was held
        ctx.store.discard(pending)
        raise
    confirmed = domain.reserved(pending, hold, described, ctx.clock.now())
    saved = ctx.store.commit(Change(confirmed, event=event(ctx, "booking.created", confirmed),
                                    receipt=claim), before=pending)
    if saved is None:  # the worker undid this saga meanwhile: it took too long
        raise Unavailable("booking took too long; try again")
    return saved


def answers_for(ctx: Context, given: Intake | None, client: Client,
                described: Description) -> Intake | None:
    """The health answers to screen: those given with the request, else the client's
    latest on record when the treatment needs them (refused when too old or none);
    the client's preferred pressure fills in where the answers leave it out."""
    if given is None and domain.needs_intake(described):
        given = domain.intake_on_record(ctx.clients.intakes(client.id), ctx.clock.now(),
                                        ctx.infra.settings.intake_valid_days)
    if given is not None and given.pressure is None:
        given = replace(given, pressure=client.preferences.pressure)
    return given


def hold_preferring(ctx: Context, wanted: SlotRequest, preferences: Preferences) -> Hold:
    """The client's preferred therapist when they are free, else any able one; their
    preferred gender where the request names none."""
    wanted = domain.with_preferences(wanted, preferences)
    if wanted.therapist or not preferences.therapist:
        return hold_slot(ctx, wanted)
    try:
        return hold_slot(ctx, replace(wanted, therapist=preferences.therapist))
    except (SlotUnavailable, NotFound, Invalid):  # busy, gone, or not of the gender asked
        return hold_slot(ctx, wanted)


def hold_slot(ctx: Context, wanted: SlotRequest, hold_id: str | None = None) -> Hold:
    """Hold over RPC. A call that timed out may still have made the hold, so its
    release is queued, due once the late hold has surely been answered: the worker
    frees the time instead of leaving it held until expiry (releasing a hold that
    was never made is a no-op)."""
    hold_id = hold_id or new_id("h")
    try:
        return ctx.availability.hold(wanted, hold_id)
    except RpcTimeout:
        ctx.store.queue_release(hold_id, delay_s=ctx.store.saga_timeout_s)
        raise


def _confirm(ctx: Context, booking: Booking, claim: Claim | None) -> Booking:
    try:
        ctx.availability.confirm(booking.hold_id, booking.id)
    except SpaError:
        undo(ctx, booking)
        raise
    confirmed = domain.transition(booking, "confirmed", ctx.clock.now())
    created = event(ctx, "booking.created", confirmed)
    saved = ctx.store.commit(Change(confirmed, event=created, receipt=claim), before=booking)
    if saved is None:  # the worker undid this saga meanwhile: it took too long
        raise Unavailable("booking took too long; try again")
    return saved


def cancel(ctx: Context, booking: Booking, reason: str) -> Booking:
    cancelled = domain.cancel(booking, ctx.clock.now(), reason)
    saved = commit(ctx, Change(cancelled, release=booking.hold_id,
                               release_after_s=RELEASE_RETRY_S,
                               event=event(ctx, "booking.cancelled", cancelled, reason=reason)))
    release_now(ctx, booking.hold_id)
    return saved


def finish(ctx: Context, booking: Booking, outcome: str) -> Booking:
    """`completed` or `no_show` (with its fee): the reservation stays, as the record of
    the visit."""
    now = ctx.clock.now()
    done = (domain.no_show(booking, now) if outcome == "no_show"
            else domain.transition(booking, outcome, now))
    return commit(ctx, Change(done, event=event(ctx, f"booking.{outcome}", done)))


def reschedule(ctx: Context, booking: Booking, start: datetime,
               therapist: str | None = None) -> Booking:
    """Move `booking` to `start`, screened again against the client's latest intake,
    with the add-ons and the therapist gender it was booked with."""
    wanted = SlotRequest(booking.studio, booking.treatment, booking.duration, start, therapist,
                         booking.addons, booking.therapist_gender)
    screen_again(ctx, booking)
    marked = commit(ctx, Change(domain.begin_reschedule(booking, new_id("h"))))
    try:
        hold = hold_slot(ctx, wanted, marked.next_hold)
        ctx.availability.confirm(hold.id, booking.id)
    except NotFound as missing:  # the booking is there: the therapist asked for is not
        undo(ctx, marked)
        raise Invalid.field("therapist", missing.detail, missing.detail) from None
    except SpaError:
        undo(ctx, marked)
        raise
    moved = domain.finish_reschedule(marked, hold, ctx.clock.now())
    rescheduled = event(ctx, "booking.rescheduled", moved, previous=booking)
    saved = ctx.store.commit(Change(moved, event=rescheduled, release=booking.hold_id,
                                    release_after_s=RELEASE_RETRY_S))
    if saved is None:  # cancelled or undone meanwhile: give the new time back
        undo(ctx, ctx.store.get(booking.id))
        raise Conflict("the booking changed meanwhile; read it again")
    release_now(ctx, booking.hold_id)
    return saved


def screen_again(ctx: Context, booking: Booking) -> None:
    """A move is screened like a new booking: a client who has since declared a
    contraindication, or whose intake has grown too old, is refused."""
    client = ctx.clients.get(booking.client) if booking.client else None
    if client is None:
        return  # a booking from before client records: screened when it was made
    described = ctx.availability.describe(booking.studio, booking.treatment)
    domain.screen(answers_for(ctx, None, client, described), described)


def forget_answers(ctx: Context, booking: Booking) -> Booking | None:
    """The booking without the health answers it was screened on (their outcome and
    rule version stay): kept no longer than needed."""
    return ctx.store.commit(Change(replace(booking, screening=replace(booking.screening,
                                                                        declared=None))))


def move_to_client(ctx: Context, booking: Booking, client_id: str) -> Booking:
    return commit(ctx, Change(replace(booking, client=client_id)))


def erase(ctx: Context, booking: Booking) -> Booking:
    """The booking without its client's personal data (erasure)."""
    return commit(ctx, Change(domain.erase_customer(booking)))


def commit(ctx: Context, change: Change) -> Booking:
    saved = ctx.store.commit(change)
    if saved is None:
        raise Conflict("the booking changed meanwhile; read it again")
    return saved


def undo(ctx: Context, booking: Booking, late_call_possible: bool = False) -> None:
    """Roll back an unfinished step (domain.abandon), then free its hold. When a call
    that may still make the hold is in flight, the worker's queued release stays: it
    frees what the late call made, once that call is surely over."""
    undone, hold_id = domain.abandon(booking, ctx.clock.now())
    if ctx.store.commit(Change(undone, release=hold_id)) and hold_id:
        release_now(ctx, hold_id, settled=not late_call_possible)


def release_now(ctx: Context, hold_id: str, settled: bool = True) -> None:
    """Free the time at once; if availability does not answer (or, unless `settled`,
    in any case), the worker releases it again later."""
    try:
        ctx.availability.release(hold_id)
    except SpaError as error:
        log.warning("release postponed", extra={"hold": hold_id, "error": error.code})
        return
    if settled:
        ctx.store.released(hold_id)


def event(ctx: Context, kind: str, booking: Booking, **extra) -> bus.Envelope:
    return bus.Envelope(type=kind, payload=event_payload(booking, **extra), source="booking",
                        city=ctx.city, correlation_id=correlation_id(),
                        occurred_at=ctx.clock.now().isoformat())
