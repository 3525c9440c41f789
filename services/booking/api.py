"""HTTP routes of booking (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from services.booking import handlers, saga
from services.booking.bootstrap import Context
from services.booking.domain import fingerprint
from services.booking.schemas import (
    BookingPageSchema,
    BookingQuerySchema,
    BookingRequestSchema,
    BookingSchema,
    CancelSchema,
    HoldSchema,
    IdempotencyHeaderSchema,
    ProblemSchema,
    RescheduleSchema,
    SlotRequestSchema,
)
from services.booking.store import Claim
from services.common.auth import current_principal, hash_key
from services.common.http import HTTP_TITLES, PROBLEM_JSON

blp = Blueprint("booking", __name__, url_prefix="/v1", description="Booking")


def ctx() -> Context:
    return current_app.extensions["spa"]


def problems(*statuses: int):
    """Document the problem+json answers a route can give (401 and 429: every route)."""
    def decorate(view):
        for status in (401, 429, *statuses):
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON,
                                    description=HTTP_TITLES[status])(view)
        return view
    return decorate


def key_scope() -> str:
    """Idempotency keys are scoped per API key, so two partners never collide."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return hash_key(token)[:32]


@blp.post("/holds")
@blp.arguments(SlotRequestSchema)
@blp.response(201, HoldSchema)
@problems(404, 409, 422, 503)
def create_hold(wanted):
    """Hold a slot for a while (`expires_at`) before booking it."""
    return handlers.create_hold(ctx(), current_principal(), wanted)


@blp.delete("/holds/<hold_id>")
@blp.response(204)
@problems(404, 409)
def delete_hold(hold_id: str):
    """Give a hold back: the time is free again at once (if availability does not
    answer, as soon as the worker reaches it). 409 when a booking took the hold first."""
    handlers.drop_hold(ctx(), current_principal(), hold_id)


@blp.post("/bookings")
@blp.arguments(IdempotencyHeaderSchema(), location="headers", as_kwargs=True)
@blp.arguments(BookingRequestSchema())  # instances: no per-request field copies
@blp.response(201, BookingSchema)
@problems(404, 409, 422, 503)
def create_booking(wanted, key: str):
    """Book a hold, or a slot directly. A replay of the same Idempotency-Key and body
    answers with the same booking and books nothing new."""
    claim = Claim(key_scope(), key, fingerprint(request.get_json()))
    return handlers.create_booking(ctx(), current_principal(), wanted, claim)


@blp.get("/bookings")
@blp.arguments(BookingQuerySchema, location="query", as_kwargs=True)
@blp.response(200, BookingPageSchema)
@problems(422)
def list_bookings(**query):
    """Bookings by start time; a partner sees only its studios'."""
    return handlers.list_bookings(ctx(), current_principal(), **query)


@blp.get("/bookings/<booking_id>")
@blp.response(200, BookingSchema)
@problems(404)
def get_booking(booking_id: str):
    return handlers.visible_booking(ctx(), current_principal(), booking_id)


@blp.post("/bookings/<booking_id>/cancel")
@blp.arguments(CancelSchema)
@blp.response(200, BookingSchema)
@problems(404, 409, 422)
def cancel_booking(body, booking_id: str):
    """Cancel; the time is free again at once. `late_cancellation` is true inside the
    studio's cancellation window."""
    return saga.cancel(ctx(), _booking(booking_id), body["reason"])


@blp.post("/bookings/<booking_id>/reschedule")
@blp.arguments(RescheduleSchema)
@blp.response(200, BookingSchema)
@problems(404, 409, 422, 503)
def reschedule_booking(body, booking_id: str):
    """Move to a new start; the new time is held before the old one is released, and
    if it is taken nothing changes."""
    return saga.reschedule(ctx(), _booking(booking_id), body["start"], body.get("therapist"))


@blp.post("/bookings/<booking_id>/complete")
@blp.response(200, BookingSchema)
@problems(404, 409)
def complete_booking(booking_id: str):
    return saga.finish(ctx(), _booking(booking_id), "completed")


@blp.post("/bookings/<booking_id>/no-show")
@blp.response(200, BookingSchema)
@problems(404, 409)
def no_show_booking(booking_id: str):
    return saga.finish(ctx(), _booking(booking_id), "no_show")


def _booking(booking_id: str):
    return handlers.visible_booking(ctx(), current_principal(), booking_id)
