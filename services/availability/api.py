"""HTTP routes of availability (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from services.availability import handlers
from services.availability.bootstrap import Context
from services.availability.domain import Refusal
from services.availability.schemas import (
    AbsenceSchema,
    ConflictView,
    RoomBody,
    RoomSchema,
    SlotList,
    SlotQueryArgs,
    StudioBody,
    StudioList,
    StudioSchema,
    TherapistBody,
    TherapistSchema,
    TreatmentBody,
    TreatmentList,
    TreatmentSchema,
)
from services.common.auth import current_principal, require_admin
from services.common.http import problem

blp = Blueprint("availability", __name__, url_prefix="/v1", description="Availability")

CHANGE_REFUSED = {"schema": ConflictView, "description": (
    "the change would strand confirmed bookings or live holds (listed); nothing changed")}


def ctx() -> Context:
    return current_app.extensions["spa"]


@blp.before_request
def writes_need_an_admin():
    """Checked before the body is parsed: a partner hears 403, not field errors."""
    if request.method != "GET":
        require_admin()


@blp.errorhandler(Refusal)
def refused(refusal: Refusal):
    return problem(refusal.status, refusal.code, refusal.detail, **refusal.extra)


@blp.get("/studios")
@blp.response(200, StudioList)
def list_studios():
    """Studios of the city (a partner sees only its own)."""
    return {"items": handlers.visible_studios(ctx(), current_principal())}


@blp.get("/treatments")
@blp.response(200, TreatmentList)
def list_treatments():
    """Treatments with durations, prices, requirements and advice."""
    return {"items": handlers.treatments(ctx())}


@blp.get("/slots")
@blp.arguments(SlotQueryArgs(), location="query")  # one instance: the hot path
@blp.alt_response(200, schema=SlotList, success=True, description="slots, sorted by start")
def search_slots(args: dict):
    """Bookable starts: a therapist with the skill on shift and a room with the
    equipment, both free for the treatment and its cleanup."""
    body = handlers.search_slots(ctx(), args, current_principal())
    return current_app.response_class(body, mimetype="application/json")


@blp.put("/studios/<studio_id>")
@blp.arguments(StudioBody)
@blp.response(200, StudioSchema)
@blp.alt_response(409, **CHANGE_REFUSED)
def put_studio(studio, studio_id: str):
    return handlers.put_entry(ctx(), "studios", studio, studio_id)


@blp.put("/rooms/<room_id>")
@blp.arguments(RoomBody)
@blp.response(200, RoomSchema)
@blp.alt_response(409, **CHANGE_REFUSED)
def put_room(room, room_id: str):
    return handlers.put_entry(ctx(), "rooms", room, room_id)


@blp.put("/therapists/<therapist_id>")
@blp.arguments(TherapistBody)
@blp.response(200, TherapistSchema)
@blp.alt_response(409, **CHANGE_REFUSED)
def put_therapist(therapist, therapist_id: str):
    return handlers.put_entry(ctx(), "therapists", therapist, therapist_id)


@blp.put("/treatments/<treatment_id>")
@blp.arguments(TreatmentBody)
@blp.response(200, TreatmentSchema)
@blp.alt_response(409, **CHANGE_REFUSED)
def put_treatment(treatment, treatment_id: str):
    return handlers.put_entry(ctx(), "treatments", treatment, treatment_id)


@blp.post("/therapists/<therapist_id>/time-off")
@blp.arguments(AbsenceSchema)
@blp.response(201, TherapistSchema)
@blp.alt_response(409, **CHANGE_REFUSED)
def add_time_off(absence, therapist_id: str):
    return handlers.add_time_off(ctx(), therapist_id, absence)


@blp.post("/studios/<studio_id>/closures")
@blp.arguments(AbsenceSchema)
@blp.response(201, StudioSchema)
@blp.alt_response(409, **CHANGE_REFUSED)
def add_closure(absence, studio_id: str):
    return handlers.add_closure(ctx(), studio_id, absence)
