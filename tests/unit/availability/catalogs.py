"""Small city catalogs for tests, in the city file's own shape: tests change a dict
the way an admin would change the file, then parse it."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path

from services.availability.catalog_loader import load_file, parse_catalog
from services.availability.domain import WEEKDAYS, Catalog

CITIES = Path(__file__).resolve().parents[3] / "deploy" / "cities"
LONDON_FILE, NEW_YORK_FILE = CITIES / "london.yaml", CITIES / "new-york.yaml"

BASE = {
    "city": {"id": "testcity", "name": "Test City", "timezone": "Europe/London",
             "currency": "GBP"},
    "equipment": ["overhead_bars", "floor_mat", "massage_table"],
    "skills": ["ashiatsu", "massage"],
    "studios": [{"id": "studio", "name": "Studio", "timezone": "Europe/London",
                 "slot_step_min": 15, "opening_hours": dict.fromkeys(WEEKDAYS, "09:00-17:00"),
                 # wide enough that every date the tests search lies inside it
                 "booking_window": {"min_notice_min": 0, "max_advance_days": 730}}],
    "rooms": [
        {"id": "bars", "studio": "studio", "name": "Bars room",
         "equipment": ["overhead_bars", "floor_mat"]},
        {"id": "table", "studio": "studio", "name": "Table room", "equipment": ["massage_table"]},
    ],
    "therapists": [
        {"id": "ana", "name": "Ana", "skills": ["ashiatsu", "massage"],
         "shifts": [{"studio": "studio", "days": list(WEEKDAYS), "hours": "09:00-17:00"}]},
    ],
    "treatments": [
        {"id": "ashiatsu", "name": "Ashiatsu", "durations_min": [30, 60],
         "prices": {"30": "50.00", "60": "95.00"},
         "requires": {"skill": "ashiatsu", "equipment": ["overhead_bars", "floor_mat"]},
         "contraindications": ["pregnancy", "recent_surgery", "recent_injury"]},
        {"id": "massage", "name": "Massage", "durations_min": [60], "prices": {"60": "80.00"},
         "requires": {"skill": "massage", "equipment": ["massage_table"]}},
    ],
}


def city_doc(zone: str = "Europe/London", hours: str = "09:00-17:00", step: int = 15,
             buffer_min: int = 0) -> dict:
    """BASE in `zone`, open and staffed every day for `hours`."""
    doc = copy.deepcopy(BASE)
    doc["city"]["timezone"] = doc["studios"][0]["timezone"] = zone
    doc["studios"][0]["opening_hours"] = dict.fromkeys(WEEKDAYS, hours)
    doc["studios"][0]["slot_step_min"] = step
    doc["therapists"][0]["shifts"][0]["hours"] = hours
    for treatment in doc["treatments"]:
        treatment["buffer_min"] = buffer_min
    return doc


def city(**kwargs) -> Catalog:
    return parse_catalog(city_doc(**kwargs), "test.yaml")


def london() -> Catalog:
    return load_file(LONDON_FILE)


def at(text: str) -> int:
    """Epoch seconds of an RFC 3339 instant."""
    return int(datetime.fromisoformat(text).timestamp())


def local(instant: int, catalog: Catalog, studio: str = "studio") -> datetime:
    return datetime.fromtimestamp(instant, catalog.studios[studio].zone)


EPOCH = at("2026-01-01T00:00:00+00:00")  # "now" in tests: before every searched date
