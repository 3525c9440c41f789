"""HTTP routes of availability (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from services.availability.bootstrap import Context
from services.availability.commands import StudioDay
from services.availability.handlers import catalog_admin, queries
from services.availability.schemas import (
    AbsenceSchema,
    AddOnBody,
    AddOnSchema,
    RoomBody,
    RoomSchema,
    ScheduleArgs,
    ScheduleView,
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
from services.common.auth import current_principal
from services.common.http import operation, problems

blp = Blueprint("availability", __name__, url_prefix="/v1", description="Availability")

ADMIN_CHANGE = ("forbidden", "not_found", "validation_error", "conflicts_with_bookings")


def ctx() -> Context:
    return current_app.extensions["spa"]


@blp.before_request
def writes_need_an_admin():
    """Checked before the body is parsed: a partner hears 403, not field errors."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        current_principal().require_admin()


@blp.get("/studios")
@operation(blp, "listStudios")
@blp.response(200, StudioList)
@problems(blp)
def list_studios():
    """Studios of the city (a partner sees only its own)."""
    return {"items": queries.visible_studios(ctx(), current_principal())}


@blp.get("/studios/<studio_id>/schedule")
@operation(blp, "getStudioSchedule")
@blp.arguments(ScheduleArgs, location="query")
@blp.response(200, ScheduleView)
@problems(blp, "not_found", "validation_error")
def studio_schedule(args, studio_id: str):
    """A studio's local day for the front desk: opening hours, closures, rooms,
    therapists with their shifts and time off, and the time held or booked."""
    return queries.schedule(ctx(), current_principal(), StudioDay(studio_id, args["date"]))


@blp.get("/treatments")
@operation(blp, "listTreatments")
@blp.response(200, TreatmentList)
@problems(blp)
def list_treatments():
    """Treatments with durations, prices, requirements, advice, the add-ons each allows,
    and the booking window in force at each studio the caller sees."""
    return {"items": queries.treatments(ctx(), current_principal())}


@blp.get("/slots")
@operation(blp, "searchSlots")
@blp.arguments(SlotQueryArgs(), location="query")  # one instance: the hot path
@blp.alt_response(200, schema=SlotList, success=True, description="slots, sorted by start")
@problems(blp, "not_found", "validation_error")
def search_slots(search):
    """Bookable starts: a therapist with the skill on shift and a room with the
    equipment, both free for the treatment and its cleanup."""
    body = queries.search_slots(ctx(), current_principal(), search)
    return current_app.response_class(body, mimetype="application/json")


@blp.put("/studios/<studio_id>")
@operation(blp, "putStudio")
@blp.arguments(StudioBody)
@blp.response(200, StudioSchema)
@problems(blp, *ADMIN_CHANGE)
def put_studio(studio, studio_id: str):
    return catalog_admin.put_entry(ctx(), "studios", studio, studio_id)


@blp.put("/rooms/<room_id>")
@operation(blp, "putRoom")
@blp.arguments(RoomBody)
@blp.response(200, RoomSchema)
@problems(blp, *ADMIN_CHANGE)
def put_room(room, room_id: str):
    return catalog_admin.put_entry(ctx(), "rooms", room, room_id)


@blp.put("/therapists/<therapist_id>")
@operation(blp, "putTherapist")
@blp.arguments(TherapistBody)
@blp.response(200, TherapistSchema)
@problems(blp, *ADMIN_CHANGE)
def put_therapist(therapist, therapist_id: str):
    return catalog_admin.put_entry(ctx(), "therapists", therapist, therapist_id)


@blp.put("/addons/<addon_id>")
@operation(blp, "putAddOn")
@blp.arguments(AddOnBody)
@blp.response(200, AddOnSchema)
@problems(blp, *ADMIN_CHANGE)
def put_addon(addon, addon_id: str):
    """Create or replace an add-on; a treatment allows it by naming it in `addons`."""
    return catalog_admin.put_entry(ctx(), "addons", addon, addon_id)


@blp.put("/treatments/<treatment_id>")
@operation(blp, "putTreatment")
@blp.arguments(TreatmentBody)
@blp.response(200, TreatmentSchema)
@problems(blp, *ADMIN_CHANGE)
def put_treatment(treatment, treatment_id: str):
    return catalog_admin.put_entry(ctx(), "treatments", treatment, treatment_id)


@blp.post("/therapists/<therapist_id>/time-off")
@operation(blp, "addTimeOff")
@blp.arguments(AbsenceSchema)
@blp.response(201, TherapistSchema)
@problems(blp, *ADMIN_CHANGE)
def add_time_off(absence, therapist_id: str):
    return catalog_admin.add_time_off(ctx(), therapist_id, absence)


@blp.post("/studios/<studio_id>/closures")
@operation(blp, "addClosure")
@blp.arguments(AbsenceSchema)
@blp.response(201, StudioSchema)
@problems(blp, *ADMIN_CHANGE)
def add_closure(absence, studio_id: str):
    return catalog_admin.add_closure(ctx(), studio_id, absence)
