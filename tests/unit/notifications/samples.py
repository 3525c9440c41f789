"""Booking events as booking publishes them (docs/internal-contracts.md), for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.common.bus import Envelope
from services.notifications.domain import BookingEvent

CAMDEN = {"id": "camden", "name": "Triyoga Camden",
          "address": "57 Jamestown Road, London NW1 7DB", "timezone": "Europe/London"}
ASHIATSU = {"id": "ashiatsu", "name": "Ashiatsu",
            "preparation": ["Drink plenty of water beforehand",
                            "Do not eat for about 3 hours before",
                            "Wear gym clothes",
                            "Decide your pressure preference and how much to undress"],
            "aftercare": ["Drink plenty of water afterwards"], "no_food_before_min": 180}


def booking_payload(start: datetime | None = None, *, booking_id: str | None = None,
                    email: str | None = None, studio: str = "camden", sequence: int = 0,
                    no_food_before_min: int | None = 180, **extra) -> dict:
    """A booking.* payload; by default ten days ahead, so no reminder falls due."""
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    booking = {
        "id": booking_id or f"bk_{uuid.uuid4().hex[:12]}", "status": "confirmed",
        "studio": studio, "treatment": "ashiatsu", "duration": 60,
        "start": start.isoformat(), "end": (start + timedelta(minutes=60)).isoformat(),
        "therapist": "th_maya", "room": "room_bars",
        "price": {"amount": "120.00", "currency": "GBP"},
        "customer": {"name": "Ada Lovelace",
                     "email": email or f"ada-{uuid.uuid4().hex[:8]}@example.com"},
        "created_at": "2026-11-01T09:00:00+00:00", "updated_at": "2026-11-01T09:00:00+00:00",
        "late_cancellation": False, "sequence": sequence}
    treatment = {**ASHIATSU, "no_food_before_min": no_food_before_min}
    context = {"studio": {**CAMDEN, "id": studio}, "treatment": treatment,
               "therapist": {"id": "th_maya", "name": "Maya"},
               "room": {"id": "room_bars", "name": "Bars room"}}
    return {"booking": booking, "context": context, **extra}


def rescheduled(payload: dict, start: datetime) -> dict:
    """The same booking moved to `start`, as booking.rescheduled carries it."""
    old = payload["booking"]
    booking = {**old, "start": start.isoformat(),
               "end": (start + timedelta(minutes=60)).isoformat(),
               "sequence": old["sequence"] + 1}
    return {**payload, "booking": booking,
            "previous": {"start": old["start"], "end": old["end"]}}


def cancelled(payload: dict, reason: str = "") -> dict:
    return {**payload, "booking": {**payload["booking"], "status": "cancelled"},
            "reason": reason}


def envelope(event_type: str, payload: dict) -> Envelope:
    return Envelope(type=event_type, payload=payload, source="booking", city="london",
                    correlation_id="req-test")


def event(event_type: str, payload: dict) -> BookingEvent:
    e = envelope(event_type, payload)
    return BookingEvent(e.id, e.type, e.occurred_at, e.payload, e.correlation_id)
