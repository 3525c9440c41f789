"""HTTP routes of notifications (thin: parse, call, render)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

blp = Blueprint("notifications", __name__, url_prefix="/v1", description="Notifications")


def ctx():
    return current_app.extensions["spa"]


@blp.get("/notifications")
def list_notifications():
    return {"items": []}
