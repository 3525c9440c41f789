"""The desk's pages: a studio's day, a booking's panel and its actions, a new booking.

Each view asks the public API and renders; what the API refuses is shown in its own
words (a flash on the page the action came from, or the error page)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from services.desk import timeline
from services.desk.auth import api, signed_in
from services.desk.public_api import ApiProblem, day_bounds, new_idempotency_key

bp = Blueprint("pages", __name__)

POLL_S = 3  # a change made elsewhere shows within this (plus one request)
ACTIONS = {"complete": "Completed", "no-show": "Marked as no-show", "cancel": "Cancelled"}


@bp.app_template_filter("field_errors")
def field_errors(errors: object, where: str = "") -> list[str]:
    """The API's field errors ({"customer": {"email": ["..."]}}) as lines to show."""
    if isinstance(errors, dict):
        return [line for name, inner in errors.items()
                for line in field_errors(inner, f"{where} {name}".strip())]
    if isinstance(errors, list) and all(isinstance(message, str) for message in errors):
        return [f"{where}: {' '.join(errors)}"]
    return [f"{where}: {errors}"]


def said(problem: ApiProblem) -> str:
    """What the API said, with the fields it found wrong."""
    return "; ".join([str(problem), *field_errors(problem.body.get("errors") or {})])


@bp.get("/")
def home():
    return redirect(url_for("pages.day"))


# The day ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DayAsked:
    studio: str
    day: date | None
    by: str


def day_asked() -> DayAsked:
    by = request.args.get("by", "room")
    if by not in ("room", "therapist"):
        abort(400, "rows are by room or by therapist")
    text = request.args.get("date", "")
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        abort(400, f"{text!r} is not a date (YYYY-MM-DD)")
    return DayAsked(request.args.get("studio", ""), day, by)


def day_view(asked: DayAsked) -> dict:
    studios = api().studios()
    if not studios:
        abort(404, "this key sees no studio")
    studio_id = asked.studio or studios[0]["id"]
    zone = ZoneInfo(next((s["timezone"] for s in studios if s["id"] == studio_id), "UTC"))
    day = asked.day or datetime.now(zone).date()
    schedule = api().schedule(studio_id, day)  # 404 for a studio the key does not see
    zone = ZoneInfo(schedule["studio"]["timezone"])
    bookings = api().bookings_between(studio_id, *day_bounds(day, zone))
    names = treatment_names()
    digest = hashlib.sha256(json.dumps([schedule, bookings], sort_keys=True).encode()).hexdigest()
    return {"studios": studios, "studio": schedule["studio"], "day": day, "by": asked.by,
            "timeline": timeline.build(schedule, bookings, asked.by, names),
            "arrivals": sorted(bookings, key=lambda b: b["start"]), "zone": zone,
            "names": names, "rooms": {r["id"]: r["name"] for r in schedule["rooms"]},
            "staff": {t["id"]: t["name"] for t in schedule["therapists"]},
            "digest": digest[:16], "poll_s": POLL_S}


@bp.get("/day")
@signed_in
def day():
    return render_template("day.html", **day_view(day_asked()))


@bp.get("/day/timeline")
@signed_in
def day_timeline():
    """The timeline alone, polled by the day page: 204 while nothing changed, so the
    page (and the keyboard focus in it) stays as it is."""
    view = day_view(day_asked())
    if request.args.get("seen") == view["digest"]:
        return "", 204
    return render_template("_day_live.html", **view)


_names: dict[str, tuple[float, dict[str, str]]] = {}


def treatment_names() -> dict[str, str]:
    """Treatment id -> name, kept a minute (the timeline is polled every few seconds)."""
    key = session["key"]
    cached = _names.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    names = {t["id"]: t["name"] for t in api().treatments()}
    _names[key] = (time.monotonic() + 60, names)
    return names


# A booking --------------------------------------------------------------------------

@bp.get("/bookings/<booking_id>")
@signed_in
def booking(booking_id: str):
    found = api().booking(booking_id)
    schedule = api().schedule(found["studio"], local_date(found))
    treatment = next((t for t in api().treatments() if t["id"] == found["treatment"]), {})
    return render_template(
        "booking.html", booking=found, treatment=treatment, studio=schedule["studio"],
        zone=ZoneInfo(schedule["studio"]["timezone"]),
        rooms={r["id"]: r["name"] for r in schedule["rooms"]},
        staff={t["id"]: t["name"] for t in schedule["therapists"]},
        addon_names={a["id"]: a["name"] for a in treatment.get("addons", [])},
        notifications=api().notifications(booking_id), fees=fees_now(found))


def studio_zone(studio_id: str) -> ZoneInfo:
    return ZoneInfo(next(s["timezone"] for s in api().studios() if s["id"] == studio_id))


def local_date(booking: dict, zone: ZoneInfo | None = None) -> date:
    """The booking's day at its studio (its start carries UTC)."""
    zone = zone or studio_zone(booking["studio"])
    return datetime.fromisoformat(booking["start"]).astimezone(zone).date()


def fees_now(booking: dict) -> dict:
    """What cancelling now and a no-show would cost, by the policy it was booked under
    (the API decides the fee it charges; this is the same rule, to show beforehand)."""
    policy = booking.get("policy") or {}
    if not policy:
        return {}
    deadline = datetime.fromisoformat(policy["free_cancellation_until"])
    late = datetime.now(deadline.tzinfo) > deadline
    zero = {**policy["late_fee"], "amount": "0.00"}
    return {"cancel": policy["late_fee"] if late else zero, "late": late,
            "deadline": deadline, "no_show": policy["no_show_fee"]}


@bp.post("/bookings/<booking_id>/<any(complete, 'no-show', cancel):action>")
@signed_in
def act(booking_id: str, action: str):
    body = {"reason": request.form.get("reason", "")} if action == "cancel" else {}
    try:
        done = api().act(booking_id, action, body)
    except ApiProblem as problem:
        if problem.status not in (409, 422):
            raise
        flash(f"Not done: {said(problem)}", "error")
    else:
        fee = done.get("fee")
        charged = f" Fee: {fee['amount']} {fee['currency']}." if fee else ""
        flash(f"{ACTIONS[action]}.{charged}", "info")
    return redirect(url_for("pages.booking", booking_id=booking_id))


@bp.get("/bookings/<booking_id>/reschedule")
@signed_in
def reschedule_form(booking_id: str):
    found = api().booking(booking_id)
    if found["status"] != "confirmed":
        flash(f"A {found['status'].replace('_', '-')} booking cannot be moved.", "error")
        return redirect(url_for("pages.booking", booking_id=booking_id))
    zone = studio_zone(found["studio"])
    text = request.args.get("date", "")
    try:
        day = date.fromisoformat(text) if text else local_date(found, zone)
    except ValueError:
        abort(400, f"{text!r} is not a date (YYYY-MM-DD)")
    starts = api().slots(found["studio"], day, found["treatment"], found["duration"],
                         found.get("addons") or [])
    return render_template("reschedule.html", booking=found, day=day, starts=starts, zone=zone,
                           names=treatment_names())


@bp.post("/bookings/<booking_id>/reschedule")
@signed_in
def reschedule(booking_id: str):
    start = request.form.get("start", "")
    try:
        api().act(booking_id, "reschedule", {"start": start})
    except ApiProblem as problem:
        if problem.status not in (409, 422):
            raise
        flash(f"Not moved: {said(problem)}", "error")
        return redirect(url_for("pages.reschedule_form", booking_id=booking_id,
                                date=request.form.get("date") or None))
    flash("Moved.", "info")
    return redirect(url_for("pages.booking", booking_id=booking_id))


# A new booking (walk-in or phone) ---------------------------------------------------

@dataclass(frozen=True)
class Wanted:
    """What the new-booking form asks so far."""

    studio: str
    day: date
    treatment: str
    duration: int | None
    addons: tuple[str, ...]


def wanted(source) -> Wanted:
    treatment, _, minutes = source.get("order", "").partition(":")
    try:
        day = date.fromisoformat(source.get("date", ""))
        duration = int(minutes) if minutes else None
    except ValueError:
        abort(400, "the date or the length is not valid")
    return Wanted(source.get("studio", ""), day, treatment, duration,
                  tuple(source.getlist("addons")))


@bp.get("/new")
@signed_in
def new_booking():
    return render_new(wanted(request.args))


def render_new(asked: Wanted, problem: ApiProblem | None = None, status: int = 200,
               form: dict | None = None):
    studios = api().studios()
    studio = next((s for s in studios if s["id"] == asked.studio), None)
    if studio is None:
        abort(404, "no such studio")
    treatments = api().treatments()
    chosen = next((t for t in treatments if t["id"] == asked.treatment), None)
    starts = (api().slots(asked.studio, asked.day, asked.treatment, asked.duration,
                          list(asked.addons)) if chosen and asked.duration else [])
    return render_template(
        "new_booking.html", asked=asked, studio=studio, treatments=treatments, chosen=chosen,
        names={t["id"]: t["name"] for t in treatments},
        starts=starts, zone=ZoneInfo(studio["timezone"]), problem=problem,
        form=form or {}, idempotency_key=new_idempotency_key()), status


IDEMPOTENCY_KEY = re.compile(r"desk-[0-9a-f]{32}")
QUESTIONS = ("pregnant", "recent_surgery", "recent_injury")


@bp.post("/new")
@signed_in
def book():
    asked = wanted(request.form)
    form = request.form.to_dict()
    key = request.form.get("idempotency_key", "")
    if not IDEMPOTENCY_KEY.fullmatch(key):
        abort(400, "this form was not made by the desk; open New booking again")
    try:
        made = api().book(booking_body(asked, request.form), key)
    except ApiProblem as problem:
        if problem.status not in (404, 409, 422):
            raise
        return render_new(asked, problem, problem.status, form)
    flash("Booked.", "info")
    return redirect(url_for("pages.booking", booking_id=made["id"]))


def booking_body(asked: Wanted, form) -> dict:
    body = {"studio": asked.studio, "treatment": asked.treatment, "duration": asked.duration,
            "start": form.get("start", ""), "addons": list(asked.addons),
            "customer": {"name": form.get("name", "").strip(),
                         "email": form.get("email", "").strip()}}
    if form.get("phone", "").strip():
        body["customer"]["phone"] = form["phone"].strip()
    if form.get("intake") != "on_record":
        if any(form.get(question) not in ("yes", "no") for question in QUESTIONS):
            # nothing is assumed about a client's health: every answer is given
            raise ApiProblem(422, "intake_unanswered", "answer every health question, or "
                                                       "use the answers on record")
        body["intake"] = {question: form[question] == "yes" for question in QUESTIONS}
        body["intake"]["pressure"] = form.get("pressure", "medium")
    return body
