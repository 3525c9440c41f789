"""HTTP routes of booking (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from services.booking import handlers
from services.booking.bootstrap import Context
from services.booking.commands import Cancel, Finish, Reschedule
from services.booking.domain import fingerprint
from services.booking.schemas import (
    BookingPageSchema,
    BookingQuerySchema,
    BookingRequestSchema,
    BookingSchema,
    CancelSchema,
    HoldSchema,
    IdempotencyHeaderSchema,
    RescheduleSchema,
    SlotRequestSchema,
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
                    "intake_required", "contraindicated", "dependency_unavailable")


def ctx() -> Context:
    return current_app.extensions["spa"]


@blp.post("/holds")
@operation(blp, "createHold", 201,
           DeleteHold=("deleteHold", {"hold_id": "$response.body#/id"}))
@blp.arguments(SlotRequestSchema)
@blp.response(201, HoldSchema)
@problems(blp, "not_found", "slot_unavailable", "conflict", "validation_error",
          "dependency_unavailable")
def create_hold(wanted):
    """Hold a slot for a while (`expires_at`) before booking it."""
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
    # Idempotency keys are scoped per API key, so two partners never collide.
    claim = Claim(principal.key_id[:32], key, fingerprint(request.get_json()))
    return handlers.create_booking(ctx(), principal, wanted, claim)


@blp.get("/bookings")
@operation(blp, "listBookings", 200,
           GetBooking=("getBooking", {"booking_id": "$response.body#/items/0/id"}))
@blp.arguments(BookingQuerySchema, location="query")
@blp.response(200, BookingPageSchema)
@problems(blp, "validation_error")
def list_bookings(query):
    """Bookings by start time; a partner sees only its studios'."""
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
    """Cancel; the time is free again at once. `late_cancellation` is true inside the
    studio's cancellation window."""
    return handlers.cancel_booking(ctx(), current_principal(), Cancel(booking_id, **body))


@blp.post("/bookings/<booking_id>/reschedule")
@operation(blp, "rescheduleBooking", 200, **BOOKING_LINKS)
@blp.arguments(RescheduleSchema)
@blp.response(200, BookingSchema)
@problems(blp, "not_found", "invalid_transition", "slot_unavailable", "conflict",
          "validation_error", "dependency_unavailable")
def reschedule_booking(body, booking_id: str):
    """Move to a new start; the new time is held before the old one is released, and
    if it is taken nothing changes."""
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
