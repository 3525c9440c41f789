"""Booking events for notifications' tests, made by booking's own code: its domain
builds the booking and its schema writes the payload, exactly as booking publishes
them. Only the facts a test varies (start, studio, email, fasting) are chosen here."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.booking import domain
from services.booking.domain import (
    Booking,
    CancellationTerms,
    Customer,
    Description,
    Hold,
    Intake,
    Named,
    Screening,
    StudioFacts,
    TreatmentFacts,
)
from services.booking.schemas import event_payload
from services.common.bus import Envelope
from services.notifications.domain import BookingEvent

MADE_AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CAMDEN = StudioFacts("camden", "Triyoga Camden", "57 Jamestown Road, London NW1 7DB",
                     "Europe/London")
TERMS = CancellationTerms(24, Decimal(50), Decimal(100))
OIL = {"id": "aromatherapy-oil", "name": "Aromatherapy oil",
       "price": {"amount": "8.00", "currency": "GBP"}}
PREPARATION = ("Drink plenty of water beforehand", "Do not eat for about 3 hours before",
               "Wear gym clothes", "Decide your pressure preference and how much to undress")
AFTERCARE = ("Drink plenty of water afterwards",)
INTAKE = Intake(pregnant=False, recent_surgery=False, recent_injury=False, pressure="medium")

_made: dict[str, Booking] = {}  # the Booking behind each payload, for the next event


def booking_payload(start: datetime | None = None, *, booking_id: str | None = None,
                    email: str | None = None, studio: str = "camden", sequence: int = 0,
                    no_food_before_min: int | None = 180,
                    terms: CancellationTerms = TERMS, **extra) -> dict:
    """A booking.created payload; by default ten days ahead, so no reminder falls due."""
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    treatment = TreatmentFacts("ashiatsu", "Ashiatsu", ("pregnancy",), True, PREPARATION,
                               AFTERCARE, no_food_before_min)
    described = Description(replace(CAMDEN, id=studio), treatment)
    customer = Customer("Ada Lovelace", email or f"ada-{uuid.uuid4().hex[:8]}@example.com")
    pending = domain.new_booking(booking_id or f"bk_{uuid.uuid4().hex[:12]}",
                                 hold_at(start, studio, terms), customer, Screening(INTAKE),
                                 described, MADE_AT)
    booking = replace(domain.transition(pending, "confirmed", MADE_AT), sequence=sequence)
    _made[booking.id] = booking
    return {**event_payload(booking), **extra}


def hold_at(start: datetime, studio: str = "camden", terms: CancellationTerms = TERMS) -> Hold:
    """Ashiatsu, 60 minutes, with aromatherapy oil: 112.00 and 8.00."""
    total = {"amount": "120.00", "currency": "GBP"}
    breakdown = {"treatment": {"amount": "112.00", "currency": "GBP"}, "addons": [OIL],
                 "total": total}
    return Hold(f"h_{uuid.uuid4().hex[:8]}", studio, "ashiatsu", 60, start,
                start + timedelta(minutes=60), Named("th_maya", "Maya"),
                Named("room_bars", "Bars room"), total, None, ("aromatherapy-oil",),
                breakdown, terms)


def rescheduled(payload: dict, start: datetime) -> dict:
    """The same booking moved to `start`, as booking.rescheduled carries it."""
    booking = _made[payload["booking"]["id"]]
    marked = domain.begin_reschedule(booking, "h_next")
    moved = domain.finish_reschedule(marked, hold_at(start, booking.studio), MADE_AT)
    _made[moved.id] = moved
    return event_payload(moved, previous=booking)


def cancelled(payload: dict, reason: str = "", now: datetime = MADE_AT) -> dict:
    booking = _made[payload["booking"]["id"]]
    return event_payload(domain.cancel(booking, now, reason), reason=reason)


def envelope(event_type: str, payload: dict) -> Envelope:
    return Envelope(type=event_type, payload=payload, source="booking", city="london",
                    correlation_id="req-test")


def event(event_type: str, payload: dict) -> BookingEvent:
    e = envelope(event_type, payload)
    return BookingEvent(e.id, e.type, e.occurred_at, e.payload, e.correlation_id)
