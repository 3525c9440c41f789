"""HTTP routes of availability (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

blp = Blueprint("availability", __name__, url_prefix="/v1", description="Availability")


def ctx():
    return current_app.extensions["spa"]


@blp.get("/studios")
def list_studios():
    return {"items": []}
