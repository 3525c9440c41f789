"""One plain function per query, RPC method and admin command; api.py and queues.py
call them with already-validated input. They raise `Refusal`, which each edge renders."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from services.availability import engine
from services.availability.bootstrap import Context
from services.availability.catalog_loader import CatalogError, dump_catalog, parse_catalog
from services.availability.domain import (
    Absence,
    Catalog,
    City,
    Refusal,
    Reservation,
    Studio,
    Therapist,
    Treatment,
    invalid,
    iso,
    not_found,
)
from services.availability.slot_cache import valid_until
from services.common.auth import Principal
from services.common.bus import Envelope

log = logging.getLogger(__name__)


def find(table: dict, ident: str, what: str):
    if ident not in table:
        raise not_found(what, ident)
    return table[ident]


def offered_duration(treatment: Treatment, duration: int) -> int:
    if duration not in treatment.durations_min:
        lengths = " or ".join(map(str, treatment.durations_min))
        raise invalid("duration", f"{treatment.id} lasts {lengths} minutes")
    return duration


# Catalog and slots (partner HTTP) -------------------------------------------------------

def studio_view(studio: Studio, city: City) -> dict:
    return {"id": studio.id, "name": studio.name, "city": city.id,
            "timezone": studio.timezone, "address": studio.address}


def treatment_view(treatment: Treatment, currency: str) -> dict:
    return {"id": treatment.id, "name": treatment.name,
            "durations_min": list(treatment.durations_min),
            "prices": {str(d): treatment.price(d, currency).to_json()
                       for d in treatment.durations_min},
            "requires": {"skill": treatment.requires.skill,
                         "equipment": sorted(treatment.requires.equipment)},
            "contraindications": list(treatment.contraindications),
            "preparation": list(treatment.preparation), "aftercare": list(treatment.aftercare),
            "no_food_before_min": treatment.no_food_before_min}


def visible_studios(ctx: Context, principal: Principal) -> list[dict]:
    catalog = ctx.catalog()
    return [studio_view(studio, catalog.city) for studio in catalog.studios.values()
            if principal.sees(studio.id)]


def treatments(ctx: Context) -> list[dict]:
    catalog = ctx.catalog()
    return [treatment_view(t, catalog.city.currency) for t in catalog.treatments.values()]


def search_slots(ctx: Context, args: dict, principal: Principal) -> bytes:
    """The JSON body of a slot search, `{"items": [...]}`. The hot path: a repeated
    search is answered with the bytes of its last answer while they still hold."""
    catalog_version, catalog = ctx.versioned_catalog()
    query = slot_query(catalog, args, principal)
    studios = tuple(studio.id for studio in query.studios)
    key = (catalog_version, query.treatment.id, query.duration, studios, query.first,
           query.last, query.therapist)
    # Versions are read before the ledger: a write in between only makes a later miss.
    versions, now = ctx.store.versions(studios), ctx.now()
    if (body := ctx.slots.get(key, versions, now)) is None:
        body, until = computed_slots(ctx, catalog, query, now)
        ctx.slots.put(key, versions, until, body)
    return body


def slot_query(catalog: Catalog, args: dict, principal: Principal) -> engine.SlotQuery:
    treatment = find(catalog.treatments, args["treatment"], "treatment")
    duration = offered_duration(treatment, args["duration"])
    if args.get("therapist"):
        find(catalog.therapists, args["therapist"], "therapist")
    studios = searched_studios(catalog, args.get("studio"), principal)
    return engine.SlotQuery(treatment, duration, studios, args["from_"], args["to"],
                            args.get("therapist"))


def computed_slots(ctx: Context, catalog: Catalog, query: engine.SlotQuery,
                   now: int) -> tuple[bytes, int]:
    """The search's body, and until when it holds without a write."""
    spans = {s.id: engine.query_span(s, query.first, query.last) for s in query.studios}
    reservations = ctx.store.reservations({s: (w.start, w.end) for s, w in spans.items()})
    slots = engine.search(catalog, query, reservations, now)
    body = json.dumps({"items": [slot.to_json() for slot in slots]}).encode()
    return body, valid_until(slots, reservations, now)


def searched_studios(catalog: Catalog, studio: str | None,
                     principal: Principal) -> tuple[Studio, ...]:
    if studio is None:
        return tuple(s for s in catalog.studios.values() if principal.sees(s.id))
    if not principal.sees(studio):
        raise not_found("studio", studio)  # 404, not 403: ids must not leak
    return (find(catalog.studios, studio, "studio"),)


# RPC: describe, hold, confirm, release ----------------------------------------------------

def describe(ctx: Context, params: dict) -> dict:
    catalog = ctx.catalog()
    studio = find(catalog.studios, params["studio"], "studio")
    treatment = find(catalog.treatments, params["treatment"], "treatment")
    return {
        "studio": {**studio_view(studio, catalog.city), "currency": catalog.city.currency,
                   "cancellation_window_h": studio.cancellation_window_h},
        "treatment": {
            "id": treatment.id, "name": treatment.name,
            "durations_min": list(treatment.durations_min),
            "contraindications": list(treatment.contraindications),
            "intake_required": treatment.intake_required,
            "preparation": list(treatment.preparation), "aftercare": list(treatment.aftercare),
            "no_food_before_min": treatment.no_food_before_min},
        "alternatives": [{"id": t.id, "name": t.name}
                         for t in catalog.alternatives(studio.id, treatment)],
    }


STALE_CATALOG_TRIES = 3  # an admin change between our read and our script: decide again


def hold(ctx: Context, params: dict) -> dict:
    for _ in range(STALE_CATALOG_TRIES):
        if (held := hold_by_current_catalog(ctx, params)) is not None:
            return held
    raise Refusal(409, "conflict", "the catalog kept changing meanwhile; try again")


def hold_by_current_catalog(ctx: Context, params: dict) -> dict | None:
    """The hold, or None when the catalog changed after it was read."""
    version, catalog = ctx.versioned_catalog()
    now = ctx.now()
    studio = find(catalog.studios, params["studio"], "studio")
    treatment = find(catalog.treatments, params["treatment"], "treatment")
    duration = offered_duration(treatment, params["duration"])
    if params["therapist"]:
        find(catalog.therapists, params["therapist"], "therapist")
    start = bookable_start(studio, treatment.busy_s(duration), params["start"], now)
    hold_id = params["hold_id"] or uuid.uuid4().hex
    if retried := ctx.store.find(studio.id, hold_id):
        return hold_view(catalog, retried)
    ledger = ctx.store.reservations({studio.id: (start, start + 1)})
    pairs = engine.free_pairs(catalog, studio, treatment, duration, start, ledger, now,
                              params["therapist"])
    expires_at = now + (params["ttl_s"] or ctx.infra.settings.hold_ttl_s)
    wanted = Reservation(  # therapist and room: the pair that wins, below
        hold_id=hold_id, studio=studio.id, treatment=treatment.id, duration=duration,
        therapist="", room="", start=start, end=start + duration * 60,
        busy_until=start + treatment.busy_s(duration), expires_at=expires_at,
        price=treatment.price(duration, catalog.city.currency))
    held = hold_first_free(ctx, wanted, pairs, now, version)
    return hold_view(catalog, held) if held else None


def hold_first_free(ctx: Context, wanted: Reservation, pairs: list[engine.Pair], now: int,
                    catalog_version: int) -> Reservation | None:
    """Best pair first: another caller may take one between our read and our script.
    None when the catalog changed since `catalog_version` chose the pairs."""
    for pair in pairs:
        status, held = ctx.store.hold(
            replace(wanted, therapist=pair.therapist.id, room=pair.room.id), now,
            catalog_version)
        if status == "held":
            publish(ctx, "slot.held", held, expires_at=iso(held.expires_at))
        if status != "taken":  # held now, by a twin of this same call, or stale
            return held
    raise Refusal(409, "slot_unavailable", "no therapist and room are free at that time")


def bookable_start(studio: Studio, busy_s: int, start, now: int) -> int:
    instant = int(start.timestamp())
    if problem := engine.start_problem(studio, busy_s, instant):
        raise invalid("start", problem)
    if instant < now:
        raise invalid("start", "is in the past")
    return instant


def hold_view(catalog: Catalog, r: Reservation) -> dict:
    therapist, room = catalog.therapists.get(r.therapist), catalog.rooms.get(r.room)
    return {"hold_id": r.hold_id, "studio": r.studio, "treatment": r.treatment,
            "duration": r.duration, "start": iso(r.start), "end": iso(r.end),
            "therapist": {"id": r.therapist, "name": therapist.name if therapist else ""},
            "room": {"id": r.room, "name": room.name if room else ""},
            "price": r.price.to_json(),
            "expires_at": iso(r.expires_at) if not r.confirmed else None}


CONFIRM_REFUSALS = {
    "not_found": (404, "not_found", "no such hold"),
    "expired": (409, "hold_expired", "the hold passed its expires_at"),
    "other_booking": (409, "slot_unavailable", "the hold is confirmed for another booking"),
}


def confirm(ctx: Context, params: dict) -> dict:
    hold_id, booking_id = params["hold_id"], params["booking_id"]
    studio = ctx.store.studio_of(hold_id, ctx.catalog().studios)
    if studio is None:
        raise not_found("hold", hold_id)
    status, _ = ctx.store.confirm(studio, hold_id, booking_id, ctx.now())
    if status in CONFIRM_REFUSALS:
        raise Refusal(*CONFIRM_REFUSALS[status], hold_id=hold_id)
    return {"hold_id": hold_id, "booking_id": booking_id, "status": "confirmed"}


def release(ctx: Context, params: dict) -> dict:
    hold_id = params["hold_id"]
    studio = ctx.store.studio_of(hold_id, ctx.catalog().studios)
    released = ctx.store.release(studio, hold_id, ctx.now()) if studio else None
    if released:
        publish(ctx, "slot.released", released, reason="released")
    return {"hold_id": hold_id, "released": released is not None}


def sweep_expired(ctx: Context) -> int:
    """Take expired holds off the ledgers and say so (`slot.released`, reason "expired").
    Tidiness and news only: searches and holds ignore expired holds by themselves."""
    now, swept = ctx.now(), 0
    for studio in ctx.catalog().studios:
        for hold_id in ctx.store.expired_holds(studio, now):
            if expired := ctx.store.release(studio, hold_id, now, expired_only=True):
                publish(ctx, "slot.released", expired, reason="expired")
                swept += 1
    return swept


def publish(ctx: Context, event_type: str, r: Reservation, **extra) -> None:
    """Best effort: the ledger, not the event, is the truth, so a broker outage must not
    undo a hold that is already written. Booking learns every outcome from the RPC."""
    payload = {"hold_id": r.hold_id, "studio": r.studio, "therapist": r.therapist,
               "room": r.room, "start": iso(r.start), "end": iso(r.end), **extra}
    if r.booking_id:
        payload["booking_id"] = r.booking_id
    try:
        ctx.infra.publisher.publish(Envelope(event_type, payload, "availability", ctx.city))
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("event not published", extra={"type": event_type, "hold": r.hold_id})


# Admin: catalog changes -------------------------------------------------------------

def put_entry(ctx: Context, kind: str, entry, path_id: str):
    """Create or replace one studio, room, therapist or treatment."""
    if entry.id not in ("", path_id):
        raise invalid("id", f"must match the path ({path_id})")
    entry = replace(entry, id=path_id)
    change(ctx, lambda catalog: catalog.with_entry(kind, entry), f"{kind}[{path_id}]")
    return getattr(ctx.catalog(), kind)[path_id]


def add_time_off(ctx: Context, therapist_id: str, absence: Absence) -> Therapist:
    def edit(catalog: Catalog) -> Catalog:
        therapist = find(catalog.therapists, therapist_id, "therapist")
        return catalog.with_entry("therapists", replace(
            therapist, time_off=(*therapist.time_off, absence)))

    change(ctx, edit, f"therapists[{therapist_id}]")
    return ctx.catalog().therapists[therapist_id]


def add_closure(ctx: Context, studio_id: str, absence: Absence) -> Studio:
    def edit(catalog: Catalog) -> Catalog:
        studio = find(catalog.studios, studio_id, "studio")
        return catalog.with_entry("studios", replace(
            studio, closures=(*studio.closures, absence)))

    change(ctx, edit, f"studios[{studio_id}]")
    return ctx.catalog().studios[studio_id]


def replace_catalog(ctx: Context, catalog: Catalog) -> None:
    """A whole new city file (`spa catalog load`), under the same rules as any change."""
    change(ctx, lambda current: catalog, "catalog")


def change(ctx: Context, edit: Callable[[Catalog], Catalog], entry: str) -> None:
    """Apply `edit` to the stored catalog, all or nothing: refused (422) when the result
    is inconsistent, and (409) when it would strand a booking or a live hold."""
    now = ctx.now()

    def decide(doc: dict | None, upcoming: list[Reservation]) -> dict:
        current = parse_catalog(doc, "stored catalog") if doc else Catalog.empty(ctx.city)
        new_doc = dump_catalog(edit(current))
        try:  # every rule of a city file, so what is stored always loads again
            catalog = parse_catalog(new_doc, "catalog")
        except CatalogError as error:
            raise inconsistent(error, entry) from None
        if stranded := stranded_by(catalog, upcoming, now):
            raise conflicts(stranded)
        return new_doc

    ctx.store.change_catalog(now, decide)


def stranded_by(catalog: Catalog, upcoming: list[Reservation],
                now: int) -> list[tuple[Reservation, str]]:
    """Live reservations, to come or under way, that `catalog` would no longer fit."""
    found = []
    for r in upcoming:
        if r.is_live(now) and r.busy_until > now and (reason := engine.misfit(catalog, r)):
            found.append((r, reason))
    return found


def inconsistent(error: CatalogError, entry: str) -> Refusal:
    """Field errors; those of the edited entry itself by field name alone."""
    errors: dict[str, list[str]] = {}
    for p in error.problems:
        name = p.field if p.entry == entry else f"{p.entry}.{p.field}"
        errors.setdefault(name, []).append(p.message)
    return Refusal(422, "validation_error", "the change leaves the catalog inconsistent",
                   errors=errors)


def conflicts(stranded: list[tuple[Reservation, str]]) -> Refusal:
    return Refusal(
        409, "conflicts_with_bookings",
        f"the change would strand {len(stranded)} reservation(s); nothing was changed",
        bookings=sorted({r.booking_id for r, _ in stranded if r.booking_id}),
        holds=sorted(r.hold_id for r, _ in stranded if not r.booking_id),
        conflicts=[{"booking": r.booking_id or None, "hold": r.hold_id, "start": iso(r.start),
                    "reason": reason} for r, reason in stranded])
