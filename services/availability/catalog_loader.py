"""City catalogs: read a city file (or the stored copy), validate it whole, and name
every mistake by file, entry and field. A load is all or nothing.

The checks below are pure (no Redis): shapes and types come from schemas.py, the
rules that span entries (references, vocabularies, shifts inside opening hours) are
here, and they run again on every admin change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from marshmallow import ValidationError

from services.availability.domain import KINDS, WEEKDAYS, Catalog, Shift, Studio, Therapist
from services.availability.schemas import CatalogSchema
from services.availability.store import Store
from services.common.service import Infra


@dataclass(frozen=True)
class Problem:
    entry: str  # e.g. "rooms[camden-bars]"
    field: str  # e.g. "equipment"
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.field}: {self.message}"


class CatalogError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


# Reading ------------------------------------------------------------------------------

def load_file(path: Path) -> Catalog:
    return parse_catalog(read_yaml(Path(path)), Path(path).name)


def read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(path.name, [Problem("file", "-", str(error))]) from None
    if not isinstance(raw, dict):
        raise CatalogError(path.name, [Problem("file", "-", "expected a mapping at the top")])
    # YAML turns dates into objects and `60:` into int keys; the catalog's one shape
    # is the JSON one the store keeps and admins send.
    return json.loads(json.dumps(raw, default=str))


def parse_catalog(raw: dict, source: str) -> Catalog:
    try:
        parts = CatalogSchema().load(raw)
    except ValidationError as error:
        raise CatalogError(source, shape_problems(error.messages, raw)) from None
    catalog, problems = assemble(parts)
    problems += check(catalog)
    if problems:
        raise CatalogError(source, problems)
    return catalog


def dump_catalog(catalog: Catalog) -> dict:
    return CatalogSchema().dump({
        "city": catalog.city, "equipment": catalog.equipment, "skills": catalog.skills,
        **{kind: list(getattr(catalog, kind).values()) for kind in KINDS}})


def shape_problems(messages: dict, raw: dict) -> list[Problem]:
    return [Problem(*_locate(path, raw), message) for path, message in _flatten(messages)]


def _flatten(messages: object, path: tuple = ()) -> list[tuple[tuple, str]]:
    if isinstance(messages, dict):
        return [item for k, v in messages.items() for item in _flatten(v, (*path, k))]
    if isinstance(messages, list):
        return [(path, str(message)) for message in messages]
    return [(path, str(messages))]


def _locate(path: tuple, raw: dict) -> tuple[str, str]:
    """(entry, field) for a marshmallow error path, naming entries by their id."""
    if len(path) > 1 and path[0] in KINDS and isinstance(path[1], int):
        entries = raw.get(path[0]) or []
        entry = entries[path[1]] if path[1] < len(entries) else {}
        ident = entry.get("id") if isinstance(entry, dict) else None
        label = f"{path[0]}[{ident or f'#{path[1] + 1}'}]"
        return label, ".".join(map(str, path[2:])) or "-"
    return path[0] if path else "file", ".".join(map(str, path[1:])) or "-"


def assemble(parts: dict) -> tuple[Catalog, list[Problem]]:
    """Entries keyed by id; a missing or repeated id is a problem."""
    problems, tables = [], {}
    for kind in KINDS:
        tables[kind] = {}
        for number, entry in enumerate(parts[kind], 1):
            if not entry.id:
                problems.append(Problem(f"{kind}[#{number}]", "id", "missing"))
            elif entry.id in tables[kind]:
                problems.append(Problem(f"{kind}[{entry.id}]", "id",
                                        f"duplicate id (entry #{number})"))
            else:
                tables[kind][entry.id] = entry
    return Catalog(parts["city"], parts["equipment"], parts["skills"], **tables), problems


# Rules across entries -----------------------------------------------------------------

def check(catalog: Catalog) -> list[Problem]:
    return [*check_rooms(catalog), *check_therapists(catalog), *check_treatments(catalog)]


def check_rooms(catalog: Catalog) -> list[Problem]:
    problems = []
    for room in catalog.rooms.values():
        entry = f"rooms[{room.id}]"
        if room.studio not in catalog.studios:
            problems.append(Problem(entry, "studio", unknown_studio(room.studio, catalog)))
        problems += unknown_names(entry, "equipment", room.equipment, catalog.equipment)
    return problems


def check_therapists(catalog: Catalog) -> list[Problem]:
    problems = []
    for therapist in catalog.therapists.values():
        entry = f"therapists[{therapist.id}]"
        problems += unknown_names(entry, "skills", therapist.skills, catalog.skills)
        problems += [Problem(entry, "shifts", message)
                     for message in shift_mistakes(therapist, catalog)]
    return problems


def shift_mistakes(therapist: Therapist, catalog: Catalog) -> list[str]:
    mistakes = []
    for n, shift in enumerate(therapist.shifts, 1):
        studio = catalog.studios.get(shift.studio)
        if studio is None:
            mistakes.append(f"#{n}: {unknown_studio(shift.studio, catalog)}")
        else:
            mistakes += [f"#{n}: {message}" for message in outside_hours(shift, studio)]
    return mistakes + overlapping_shifts(therapist)


def outside_hours(shift: Shift, studio: Studio) -> list[str]:
    return [f"{WEEKDAYS[day]} {shift.hours} is outside {studio.id}'s opening hours "
            f"({', '.join(map(str, studio.opening_hours.get(day, ()))) or 'closed'})"
            for day in sorted(shift.days)
            if not any(h.contains(shift.hours) for h in studio.opening_hours.get(day, ()))]


def overlapping_shifts(therapist: Therapist) -> list[str]:
    """One person works one place at a time: this is also why each studio's ledger
    can check a therapist on its own."""
    mistakes, shifts = [], therapist.shifts
    for i, a in enumerate(shifts):
        for j, b in enumerate(shifts[i + 1:], i + 2):
            if a.days & b.days and a.hours.start < b.hours.end and b.hours.start < a.hours.end:
                mistakes.append(f"#{i + 1} and #{j} overlap")
    return mistakes


def check_treatments(catalog: Catalog) -> list[Problem]:
    problems = []
    for treatment in catalog.treatments.values():
        entry, requires = f"treatments[{treatment.id}]", treatment.requires
        problems += unknown_names(entry, "requires.skill", {requires.skill}, catalog.skills)
        problems += unknown_names(entry, "requires.equipment", requires.equipment,
                                  catalog.equipment)
        if set(treatment.prices) != set(treatment.durations_min):
            problems.append(Problem(entry, "prices", "give exactly one price per duration "
                                    f"{sorted(treatment.durations_min)}"))
    return problems


def unknown_names(entry: str, field: str, names: frozenset[str] | set[str],
                  known: frozenset[str]) -> list[Problem]:
    return [Problem(entry, field, f"unknown name {name!r} (known: {', '.join(sorted(known))})")
            for name in sorted(names - known)]


def unknown_studio(ident: str, catalog: Catalog) -> str:
    return f"unknown studio {ident!r} (known: {', '.join(catalog.studios)})"


# Into the store -----------------------------------------------------------------------

def load_city_file(path: Path, city: str) -> Catalog:
    """The catalog in `path`, which must be this deployment's city."""
    catalog = load_file(path)
    if catalog.city.id != city:
        raise CatalogError(Path(path).name, [Problem("city", "id", (
            f"this file is for {catalog.city.id!r} but SPA_CITY is {city!r}"))])
    return catalog


def load_city_if_empty(infra: Infra, path: Path) -> list[str]:
    """Store the city file when the store has no catalog yet (`spa dev` calls this);
    returns the studio ids of the catalog now stored."""
    catalog = load_city_file(path, infra.settings.city)
    store = Store(infra.redis, infra.settings.city)
    store.save_catalog_if_absent(dump_catalog(catalog))
    _, stored = store.read_catalog()
    return [studio["id"] for studio in stored["studios"]]
