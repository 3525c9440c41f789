"""A partner's clients: their records, the intake on record, their history, and what
privacy law gives them: an export of everything held, and erasure."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

from services.booking import saga
from services.booking.bootstrap import Context
from services.booking.clients import Saved
from services.booking.commands import (
    BookingRequest,
    ChangeClient,
    ClientBookings,
    EraseClient,
    NewClient,
    RecordIntake,
)
from services.booking.domain import Booking, Client, IntakeRecord, Preferences
from services.common import bus
from services.common.auth import Principal
from services.common.correlation import correlation_id
from services.common.errors import Conflict, HasFutureBookings, NotFound

ERASURE_REASON = "the client asked to be forgotten"


def new_client_id() -> str:
    return f"cl_{secrets.token_urlsafe(12)}"


def create_client(ctx: Context, principal: Principal, command: NewClient) -> tuple[Client, bool]:
    """A new client of the caller, or its existing one with that email (unchanged);
    and whether it is new."""
    wanted = new_client(ctx, principal, command)
    kept = ctx.clients.add(wanted)
    return kept, kept.id == wanted.id


def new_client(ctx: Context, principal: Principal, command: NewClient) -> Client:
    now = ctx.clock.now()
    return Client(new_client_id(), principal.owner, command.name, command.email,
                  command.phone, command.preferences, now, now)


def visible_client(ctx: Context, principal: Principal, client_id: str) -> Client:
    client = ctx.clients.get(client_id)
    if client is None:
        raise NotFound("no such client")
    principal.require_owner(client.owner, "client")
    return client


def clients_by_email(ctx: Context, principal: Principal, email: str) -> list[Client]:
    """The caller's client with that exact email (none or one)."""
    found = ctx.clients.find_by_email(principal.owner, email)
    return [found] if found else []


def change_client(ctx: Context, principal: Principal, command: ChangeClient) -> Client:
    before = visible_client(ctx, principal, command.client_id)
    changes = dict(command.changes)
    if "preferences" in changes:
        changes["preferences"] = replace(before.preferences, **changes["preferences"])
    after = replace(before, **changes, updated_at=ctx.clock.now())
    outcome = ctx.clients.save(before, after)
    if outcome == Saved.EMAIL_TAKEN:
        raise Conflict("another client of yours has that email")
    if outcome == Saved.CHANGED:
        raise Conflict("the client changed meanwhile; read it again")
    return after


def record_intake(ctx: Context, principal: Principal, command: RecordIntake) -> IntakeRecord:
    client = visible_client(ctx, principal, command.client_id)
    recorded = ctx.clients.record_intake(client.id, command.answers, ctx.clock.now())
    if recorded is None:
        raise NotFound("no such client")  # erased meanwhile
    return recorded


def client_bookings(ctx: Context, principal: Principal, query: ClientBookings) -> dict:
    """The client's bookings, latest first, a page at a time."""
    client = visible_client(ctx, principal, query.client_id)
    page = ctx.store.client_page(client.id, query.cursor, query.limit)
    items = [booking for _, booking in page if booking and booking.visible]
    cursor = page[-1][0] if len(page) == query.limit else None
    return {"items": items, "next_cursor": cursor}


def client_for(ctx: Context, principal: Principal,
               request: BookingRequest) -> tuple[Client, bool]:
    """The client a booking is for, and whether they are on record: the one named,
    the caller's client with the inline customer's email, or a new client, recorded
    only once the booking is made (a refused booking leaves nothing behind)."""
    if request.client:
        return visible_client(ctx, principal, request.client), True
    customer = request.customer
    if known := ctx.clients.find_by_email(principal.owner, customer.email):
        return known, True
    return new_client(ctx, principal, NewClient(customer.name, customer.email,
                                                customer.phone, Preferences())), False


def record_new_client(ctx: Context, booking: Booking, client: Client) -> Booking:
    """Record the client a booking was just made for; when another request recorded a
    client with that email meanwhile, the booking moves to that one."""
    kept = ctx.clients.add(client)
    return booking if kept.id == client.id else saga.move_to_client(ctx, booking, kept.id)


def export(ctx: Context, principal: Principal, client_id: str) -> dict:
    """Everything held about the client, as one document: the profile, every intake on
    record, every booking, and every notification sent about them."""
    client = visible_client(ctx, principal, client_id)
    bookings = ctx.store.client_bookings(client.id)
    sent = ctx.notifications.sent_about([b.id for b in bookings])
    return {"client": client, "intake": ctx.clients.intakes(client.id), "bookings": bookings,
            "notifications": sent, "exported_at": ctx.clock.now()}


def erase(ctx: Context, principal: Principal, command: EraseClient) -> None:
    """Forget the client. Bookings to come are cancelled first (with their usual
    events) if asked, else refused. Every booking keeps its times, prices and fees
    but loses the name, email, phone and health answers; notifications forgets them
    too (`client.erased`); an audit entry records who erased whom, and when. Asking
    again answers the same."""
    if erased_already(ctx, principal, command.client_id):
        return
    try:
        client = visible_client(ctx, principal, command.client_id)
    except NotFound:  # a twin request may have finished erasing it just now
        if erased_already(ctx, principal, command.client_id):
            return
        raise
    now = ctx.clock.now()
    future = [b for b in ctx.store.client_bookings(client.id)
              if b.status == "confirmed" and b.start > now]
    if future and not command.cancel_future:
        raise HasFutureBookings(bookings=[b.id for b in future])
    if not ctx.clients.begin_erasure(client.id):  # from here on, nothing writes to it
        wait_for_erasure(ctx, client.id)  # a twin request is erasing it: same answer
        return
    try:
        forget(ctx, principal, client, future, now)
    except BaseException:
        ctx.clients.end_erasure(client.id)  # nothing is lost: erasing again finishes it
        raise


def erased_already(ctx: Context, principal: Principal, client_id: str) -> bool:
    tombstone = ctx.clients.tombstone(client_id)
    if tombstone:
        principal.require_owner(tombstone["owner"], "client")
    return tombstone is not None


TWIN_ERASURE_WAIT_S = 3.0


def wait_for_erasure(ctx: Context, client_id: str) -> None:
    """Until the erasure another request runs is done; 409 if it takes too long."""
    deadline = time.monotonic() + TWIN_ERASURE_WAIT_S
    while not ctx.clients.tombstone(client_id):
        if time.monotonic() > deadline:
            raise Conflict("the client is being erased; ask again in a moment")
        time.sleep(0.05)


def forget(ctx: Context, principal: Principal, client: Client, future: list[Booking],
           now) -> None:
    for booking in future:
        saga.cancel(ctx, booking, ERASURE_REASON)
    bookings = ctx.store.client_bookings(client.id)  # failed and pending ones too
    for booking in bookings:
        saga.erase(ctx, booking)
    ctx.store.publish(bus.Envelope(
        type="client.erased", source="booking", city=ctx.city,
        payload={"client": client.id, "bookings": [b.id for b in bookings],
                 "waitlist": [e.id for e in ctx.waitlist.of_client(client.id)]},
        correlation_id=correlation_id(), occurred_at=now.isoformat()))
    ctx.clients.erase(client, {"at": now.isoformat(), "by": principal.owner,
                               "client": client.id, "bookings": len(bookings),
                               "cancelled": len(future)})


def forget_if_erased(ctx: Context, booking: Booking) -> Booking:
    """A booking made while its client was being erased loses their data too."""
    if booking.client and ctx.clients.forgotten(booking.client):
        return saga.erase(ctx, booking)
    return booking
