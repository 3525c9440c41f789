"""City catalogs in and out: read a city file (or the stored copy), load its shapes
with schemas.py, apply the rules of catalog_rules.py, and store it. A load is all or
nothing, and every mistake is named by file, entry and field."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from marshmallow import ValidationError

from services.availability.catalog_rules import CatalogError, Problem, assemble, check, wrong_city
from services.availability.domain import KINDS, Catalog
from services.availability.schemas import CatalogSchema
from services.availability.store import Store, studio_ids
from services.common.service import Infra


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
    catalog, problems = assemble(parts["city"], parts["equipment"], parts["skills"],
                                 {kind: parts[kind] for kind in KINDS})
    problems += check(catalog)
    if problems:
        raise CatalogError(source, problems)
    return catalog


def parse_stored(doc: dict) -> Catalog:
    """The catalog the store keeps, written by this version or an earlier one."""
    return parse_catalog(upgraded(doc), "stored catalog")


def upgraded(doc: dict) -> dict:
    """A stored catalog in today's shape. A studio's `cancellation_window_h` (before
    fees existed) becomes a policy with that free period and no fees: what it meant."""
    studios = []
    for studio in doc.get("studios") or []:
        if isinstance(studio, dict) and "cancellation_window_h" in studio:
            hours = studio["cancellation_window_h"]
            studio = {k: v for k, v in studio.items() if k != "cancellation_window_h"}
            studio["cancellation"] = {"free_until_h": hours, "late_fee_percent": 0,
                                      "no_show_fee_percent": 0}
        studios.append(studio)
    return {**doc, "studios": studios}


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


def load_city_file(path: Path, city: str) -> Catalog:
    """The catalog in `path`, which must be this deployment's city."""
    catalog = load_file(path)
    if error := wrong_city(Path(path).name, catalog, city):
        raise error
    return catalog


def load_city_if_empty(infra: Infra, path: Path) -> list[str]:
    """Store the city file when the store has no catalog yet (`spa dev` and `spa init`
    call this); returns the studio ids of the catalog now stored."""
    catalog = load_city_file(path, infra.settings.city)
    store = Store(infra.redis, infra.settings.city)
    store.save_catalog_if_absent(dump_catalog(catalog))
    return stored_studios(infra)


def stored_studios(infra: Infra) -> list[str]:
    """The studio ids of the stored catalog (none before one is loaded)."""
    _, stored = Store(infra.redis, infra.settings.city).read_catalog()
    return studio_ids(stored)
