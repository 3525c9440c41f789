"""An admin's changes to the catalog: one entry, an absence, or a whole city file.
Every change is all or nothing: refused when the result breaks a catalog rule, or
would strand a confirmed booking or a live hold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from services.availability import engine
from services.availability.bootstrap import Context
from services.availability.catalog_loader import dump_catalog, parse_catalog, parse_stored
from services.availability.catalog_rules import CatalogError
from services.availability.domain import Absence, Catalog, Reservation, Studio, Therapist, iso
from services.common.errors import ConflictsWithBookings, Invalid


def put_entry(ctx: Context, kind: str, entry, path_id: str):
    """Create or replace one studio, room, therapist or treatment."""
    if entry.id not in ("", path_id):
        raise Invalid.field("id", f"must match the path ({path_id})")
    entry = replace(entry, id=path_id)
    change(ctx, lambda catalog: catalog.with_entry(kind, entry), f"{kind}[{path_id}]")
    return getattr(ctx.catalog(), kind)[path_id]


def add_time_off(ctx: Context, therapist_id: str, absence: Absence) -> Therapist:
    def edit(catalog: Catalog) -> Catalog:
        therapist = catalog.therapist(therapist_id)
        return catalog.with_entry("therapists", replace(
            therapist, time_off=(*therapist.time_off, absence)))

    change(ctx, edit, f"therapists[{therapist_id}]")
    return ctx.catalog().therapists[therapist_id]


def add_closure(ctx: Context, studio_id: str, absence: Absence) -> Studio:
    def edit(catalog: Catalog) -> Catalog:
        studio = catalog.studio(studio_id)
        return catalog.with_entry("studios", replace(
            studio, closures=(*studio.closures, absence)))

    change(ctx, edit, f"studios[{studio_id}]")
    return ctx.catalog().studios[studio_id]


def replace_catalog(ctx: Context, catalog: Catalog) -> None:
    """A whole new city file (`spa catalog load`), under the same rules as any change."""
    change(ctx, lambda current: catalog, "catalog")


def change(ctx: Context, edit: Callable[[Catalog], Catalog], entry: str) -> None:
    """Apply `edit` to the stored catalog, all or nothing: refused (validation_error)
    when the result is inconsistent, and (conflicts_with_bookings) when it would
    strand a booking or a live hold."""
    now = ctx.now()

    def decide(doc: dict | None, upcoming: list[Reservation]) -> dict:
        current = parse_stored(doc) if doc else Catalog.empty(ctx.city)
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


def inconsistent(error: CatalogError, entry: str) -> Invalid:
    """Field errors; those of the edited entry itself by field name alone."""
    errors: dict[str, list[str]] = {}
    for p in error.problems:
        name = p.field if p.entry == entry else f"{p.entry}.{p.field}"
        errors.setdefault(name, []).append(p.message)
    return Invalid("the change leaves the catalog inconsistent", errors=errors)


def conflicts(stranded: list[tuple[Reservation, str]]) -> ConflictsWithBookings:
    return ConflictsWithBookings(
        f"the change would strand {len(stranded)} reservation(s); nothing was changed",
        bookings=sorted({r.booking_id for r, _ in stranded if r.booking_id}),
        holds=sorted(r.hold_id for r, _ in stranded if not r.booking_id),
        conflicts=[{"booking": r.booking_id or None, "hold": r.hold_id, "start": iso(r.start),
                    "reason": reason} for r, reason in stranded])
