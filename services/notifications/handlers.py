"""One plain function per event; queues.py registers them in a dict."""

from __future__ import annotations

from services.common.bus import Envelope
from services.notifications.bootstrap import Context


def on_booking_event(ctx: Context, envelope: Envelope) -> None:
    booking_id = str(envelope.payload.get("booking", {}).get("id", ""))
    if not booking_id:
        raise ValueError("booking event without booking.id")
    ctx.store.record_event(envelope.type, booking_id, envelope.id)
