"""HTTP routes of booking (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from services.booking.bootstrap import Context
from services.booking.commands import (
    Cancel,
    ChangeClient,
    ClientBookings,
    EraseClient,
    Finish,
    RecordIntake,
    Reschedule,
)
from services.booking.domain import fingerprint
from services.booking.handlers import bookings as handlers
from services.booking.handlers import clients, waitlist
from services.booking.schemas import (
    BookingPageSchema,
    BookingQuerySchema,
    BookingRequestSchema,
    BookingSchema,
    CancelSchema,
    ClientBookingsQuerySchema,
    ClientChangesSchema,
    ClientListSchema,
    ClientQuerySchema,
    ClientSchema,
    EraseQuerySchema,
    ExportSchema,
    HoldSchema,
    IdempotencyHeaderSchema,
    IntakeRecordSchema,
    IntakeSchema,
    JoinWaitlistSchema,
    NewClientSchema,
    RescheduleSchema,
    SlotRequestSchema,
    WaitlistEntrySchema,
    WaitlistPageSchema,
    WaitlistQuerySchema,
)
from services.booking.store import Claim
from services.common.auth import current_principal
from services.common.http import operation, problems

blp = Blueprint("booking", __name__, url_prefix="/v1", description="Booking")

BOOKING_ID = {"booking_id": "$response.body#/id"}
BOOKING_LINKS = {"GetBooking": ("getBooking", BOOKING_ID),
                 "CancelBooking": ("cancelBooking", BOOKING_ID),
                 "RescheduleBooking": ("rescheduleBooking", BOOKING_ID),
                 "CompleteBooking": ("completeBooking", BOOKING_ID),
                 "NoShowBooking": ("noShowBooking", BOOKING_ID)}
BOOKING_REFUSALS = ("not_found", "hold_expired", "slot_unavailable", "conflict",
                    "idempotency_conflict", "idempotency_in_progress", "validation_error",
                    "intake_required", "contraindicated", "outside_booking_window",
                    "dependency_unavailable")


def ctx() -> Context:
    return current_app.extensions["spa"]


@blp.post("/holds")
@operation(blp, "createHold", 201,
           DeleteHold=("deleteHold", {"hold_id": "$response.body#/id"}))
@blp.arguments(SlotRequestSchema)
@blp.response(201, HoldSchema)
@problems(blp, "not_found", "slot_unavailable", "conflict", "validation_error",
          "outside_booking_window", "dependency_unavailable")
def create_hold(wanted):
    """Hold a slot for a while (`expires_at`) before booking it. With `client`, their
    preferred therapist is held when free (else any able one), and their preferred
    gender applies where the request names none."""
    return handlers.create_hold(ctx(), current_principal(), wanted)


@blp.delete("/holds/<hold_id>")
@operation(blp, "deleteHold")
@blp.response(204)
@problems(blp, "not_found", "conflict")
def delete_hold(hold_id: str):
    """Give a hold back: the time is free again at once (if availability does not
    answer, as soon as the worker reaches it). 409 when a booking took the hold first."""
    handlers.drop_hold(ctx(), current_principal(), hold_id)


@blp.post("/bookings")
@operation(blp, "createBooking", 201, **BOOKING_LINKS)
@blp.arguments(IdempotencyHeaderSchema(), location="headers", as_kwargs=True)
@blp.arguments(BookingRequestSchema())  # instances: no per-request field copies
@blp.response(201, BookingSchema)
@problems(blp, *BOOKING_REFUSALS)
def create_booking(wanted, key: str):
    """Book a hold, or a slot directly. A replay of the same Idempotency-Key and body
    answers with the same booking and books nothing new."""
    principal = current_principal()
    # Idempotency keys are scoped per owner (a partner, or an admin key): two partners
    # never collide, and a retry sent with a partner's new key still replays.
    claim = Claim(principal.owner[:32], key, fingerprint(request.get_json()))
    return handlers.create_booking(ctx(), principal, wanted, claim)


@blp.get("/bookings")
@operation(blp, "listBookings", 200,
           GetBooking=("getBooking", {"booking_id": "$response.body#/items/0/id"}))
@blp.arguments(BookingQuerySchema, location="query")
@blp.response(200, BookingPageSchema)
@problems(blp, "validation_error")
def list_bookings(query):
    """Bookings by start time; a partner sees only its own."""
    return handlers.list_bookings(ctx(), current_principal(), query)


@blp.get("/bookings/<booking_id>")
@operation(blp, "getBooking")
@blp.response(200, BookingSchema)
@problems(blp, "not_found")
def get_booking(booking_id: str):
    return handlers.get_booking(ctx(), current_principal(), booking_id)


@blp.post("/bookings/<booking_id>/cancel")
@operation(blp, "cancelBooking", 200, GetBooking=("getBooking", BOOKING_ID))
@blp.arguments(CancelSchema, required=False)
@blp.response(200, BookingSchema)
@problems(blp, "not_found", "invalid_transition", "conflict", "validation_error")
def cancel_booking(body, booking_id: str):
    """Cancel; the time is free again at once. The answer says what it costs: `fee`
    is zero up to the booking's `policy.free_cancellation_until` (included), and the
    late fee of its policy after it, when `late_cancellation` is true (the fee may
    still be zero where the studio charges none)."""
    return handlers.cancel_booking(ctx(), current_principal(), Cancel(booking_id, **body))


@blp.post("/bookings/<booking_id>/reschedule")
@operation(blp, "rescheduleBooking", 200, **BOOKING_LINKS)
@blp.arguments(RescheduleSchema)
@blp.response(200, BookingSchema)
@problems(blp, "not_found", "invalid_transition", "slot_unavailable", "conflict",
          "validation_error", "outside_booking_window", "intake_required", "contraindicated",
          "dependency_unavailable")
def reschedule_booking(body, booking_id: str):
    """Move to a new start; the new time is held before the old one is released, and
    if it is taken nothing changes. A booking of a client on record is screened again
    against the client's latest intake."""
    command = Reschedule(booking_id, body["start"], body.get("therapist"))
    return handlers.reschedule_booking(ctx(), current_principal(), command)


@blp.post("/bookings/<booking_id>/complete")
@operation(blp, "completeBooking", 200, GetBooking=("getBooking", BOOKING_ID))
@blp.response(200, BookingSchema)
@problems(blp, "not_found", "invalid_transition", "conflict")
def complete_booking(booking_id: str):
    return handlers.finish_booking(ctx(), current_principal(), Finish(booking_id, "completed"))


@blp.post("/bookings/<booking_id>/no-show")
@operation(blp, "noShowBooking", 200, GetBooking=("getBooking", BOOKING_ID))
@blp.response(200, BookingSchema)
@problems(blp, "not_found", "invalid_transition", "conflict")
def no_show_booking(booking_id: str):
    return handlers.finish_booking(ctx(), current_principal(), Finish(booking_id, "no_show"))


# clients

CLIENT_ID = {"client_id": "$response.body#/id"}
CLIENT_LINKS = {"GetClient": ("getClient", CLIENT_ID),
                "ChangeClient": ("changeClient", CLIENT_ID),
                "RecordIntake": ("recordIntake", CLIENT_ID),
                "ListClientBookings": ("listClientBookings", CLIENT_ID),
                "ExportClient": ("exportClient", CLIENT_ID),
                "EraseClient": ("eraseClient", CLIENT_ID)}


@blp.post("/clients")
@operation(blp, "createClient", 201, **CLIENT_LINKS)
@blp.arguments(NewClientSchema)
@blp.response(201, ClientSchema)
@blp.alt_response(200, schema=ClientSchema, description="you have a client with this email "
                  "already: that one, unchanged")
@problems(blp, "validation_error")
def create_client(command):
    """A client of yours, to book again and again (201). If you have a client with this
    email already, that one answers with 200 and nothing changes."""
    client, created = clients.create_client(ctx(), current_principal(), command)
    return client, 201 if created else 200


@blp.get("/clients")
@operation(blp, "findClients")
@blp.arguments(ClientQuerySchema, location="query")
@blp.response(200, ClientListSchema)
@problems(blp, "validation_error")
def find_clients(query):
    """Your client with this email: a list of none or one."""
    return {"items": clients.clients_by_email(ctx(), current_principal(), query["email"])}


@blp.get("/clients/<client_id>")
@operation(blp, "getClient")
@blp.response(200, ClientSchema)
@problems(blp, "not_found")
def get_client(client_id: str):
    """A client of yours (an admin key sees the city's); another partner's is 404."""
    return clients.visible_client(ctx(), current_principal(), client_id)


@blp.patch("/clients/<client_id>")
@operation(blp, "changeClient", 200, GetClient=("getClient", CLIENT_ID))
@blp.arguments(ClientChangesSchema)
@blp.response(200, ClientSchema)
@problems(blp, "not_found", "conflict", "validation_error")
def change_client(changes, client_id: str):
    """Change the fields given; 409 when another client of yours has the new email."""
    return clients.change_client(ctx(), current_principal(), ChangeClient(client_id, changes))


@blp.post("/clients/<client_id>/intake")
@operation(blp, "recordIntake", 201)
@blp.arguments(IntakeSchema)
@blp.response(201, IntakeRecordSchema)
@problems(blp, "not_found", "validation_error")
def record_intake(answers, client_id: str):
    """Record the client's health answers: bookings without an inline intake use the
    latest for SPA_INTAKE_VALID_DAYS (30 by default). Encrypted at rest; never in an
    event, a webhook or a log; purged after SPA_INTAKE_RETENTION_DAYS (365)."""
    command = RecordIntake(client_id, answers)
    return clients.record_intake(ctx(), current_principal(), command)


@blp.get("/clients/<client_id>/bookings")
@operation(blp, "listClientBookings", 200,
           GetBooking=("getBooking", {"booking_id": "$response.body#/items/0/id"}))
@blp.arguments(ClientBookingsQuerySchema, location="query")
@blp.response(200, BookingPageSchema)
@problems(blp, "not_found", "validation_error")
def list_client_bookings(query, client_id: str):
    """The client's bookings, latest start first, a page at a time (`next_cursor`)."""
    command = ClientBookings(client_id, query["limit"], query.get("cursor"))
    return clients.client_bookings(ctx(), current_principal(), command)


@blp.get("/clients/<client_id>/export")
@operation(blp, "exportClient")
@blp.response(200, ExportSchema)
@problems(blp, "not_found", "dependency_unavailable")
def export_client(client_id: str):
    """Everything held about the client, as one document (a subject access request):
    the profile, every intake on record, every booking, every notification sent."""
    return clients.export(ctx(), current_principal(), client_id)


@blp.delete("/clients/<client_id>")
@operation(blp, "eraseClient")
@blp.arguments(EraseQuerySchema, location="query")
@blp.response(204)
@problems(blp, "not_found", "has_future_bookings", "conflict", "validation_error",
          "dependency_unavailable")
def erase_client(query, client_id: str):
    """Erase the client (the right to be forgotten): the profile and intake go; every
    booking keeps its times and prices but reads "erased" for the name, email and
    phone; the notification log forgets them; pending reminders are cancelled. Bookings
    to come are refused with 409 `has_future_bookings` unless `cancel_future=true`,
    which cancels them first (with the usual events). Asking again answers 204."""
    command = EraseClient(client_id, query["cancel_future"])
    clients.erase(ctx(), current_principal(), command)


# the waitlist

ENTRY_ID = {"entry_id": "$response.body#/id"}


@blp.post("/waitlist")
@operation(blp, "joinWaitlist", 201, GetWaitlistEntry=("getWaitlistEntry", ENTRY_ID),
           LeaveWaitlist=("leaveWaitlist", ENTRY_ID))
@blp.arguments(IdempotencyHeaderSchema(), location="headers", as_kwargs=True)
@blp.arguments(JoinWaitlistSchema)
@blp.response(201, WaitlistEntrySchema)
@problems(blp, "not_found", "validation_error", "outside_booking_window", "intake_required",
          "contraindicated", "idempotency_conflict", "idempotency_in_progress",
          "dependency_unavailable")
def join_waitlist(command, key: str):
    """Wait for time at a studio (or any of several) within up to 10 windows. The
    client is screened now, as for a booking. When time frees that fits, the
    earliest-joined entry is offered it: `status` becomes `offered`, with the `offer`
    held for SPA_WAITLIST_OFFER_MIN minutes (15), and `waitlist.offered` goes out
    (webhook, and an email to the client)."""
    principal = current_principal()
    claim = Claim(f"wl:{principal.owner}"[:40], key, fingerprint(request.get_json()))
    return waitlist.join(ctx(), principal, command, claim)


@blp.get("/waitlist")
@operation(blp, "listWaitlist", 200, GetWaitlistEntry=(
    "getWaitlistEntry", {"entry_id": "$response.body#/items/0/id"}))
@blp.arguments(WaitlistQuerySchema, location="query")
@blp.response(200, WaitlistPageSchema)
@problems(blp, "validation_error")
def list_waitlist(query):
    """Your entries in join order (`next_cursor` for the next page)."""
    return waitlist.list_entries(ctx(), current_principal(), query)


@blp.get("/waitlist/<entry_id>")
@operation(blp, "getWaitlistEntry")
@blp.response(200, WaitlistEntrySchema)
@problems(blp, "not_found")
def get_waitlist_entry(entry_id: str):
    return waitlist.visible_entry(ctx(), current_principal(), entry_id)


@blp.delete("/waitlist/<entry_id>")
@operation(blp, "leaveWaitlist")
@blp.response(204)
@problems(blp, "not_found", "invalid_transition", "conflict")
def leave_waitlist(entry_id: str):
    """Leave the line; an offer held for the entry goes to the next one."""
    waitlist.leave(ctx(), current_principal(), entry_id)


@blp.post("/waitlist/<entry_id>/accept")
@operation(blp, "acceptWaitlistOffer", 201, **BOOKING_LINKS)
@blp.arguments(IdempotencyHeaderSchema(), location="headers", as_kwargs=True)
@blp.response(201, BookingSchema)
@problems(blp, *BOOKING_REFUSALS, "invalid_transition")
def accept_waitlist_offer(key: str, entry_id: str):
    """Book the offered time, exactly as POST /v1/bookings books a hold (the same
    answer, events and emails); the entry becomes `booked`."""
    principal = current_principal()
    claim = Claim(principal.owner[:32], key, fingerprint({"waitlist": entry_id}))
    return waitlist.accept(ctx(), principal, entry_id, claim)


@blp.post("/waitlist/<entry_id>/decline")
@operation(blp, "declineWaitlistOffer", 200, GetWaitlistEntry=("getWaitlistEntry", ENTRY_ID))
@blp.response(200, WaitlistEntrySchema)
@problems(blp, "not_found", "invalid_transition", "conflict")
def decline_waitlist_offer(entry_id: str):
    """Decline the offer: its time goes to the next in line; the entry waits on in its
    place and is not offered that start again."""
    return waitlist.decline(ctx(), current_principal(), entry_id)
