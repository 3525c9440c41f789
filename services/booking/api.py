"""HTTP routes of booking (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

blp = Blueprint("booking", __name__, url_prefix="/v1", description="Booking")


def ctx():
    return current_app.extensions["spa"]


@blp.get("/bookings")
def list_bookings():
    return {"items": [], "next_cursor": None}
