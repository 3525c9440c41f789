"""Which therapist and room a hold takes, which starts it refuses, and which catalog
changes would strand a booking."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from services.availability import engine
from services.availability.catalog_loader import parse_catalog
from services.availability.domain import Absence, Order, Reservation
from services.common.money import Money
from tests.unit.availability.catalogs import EPOCH, at, city_doc, london

TEN = at("2027-01-05T10:00:00+00:00")


def pairs(catalog, treatment="ashiatsu", duration=60, start=TEN, ledger=(), studio="studio",
          therapist=None) -> list[tuple[str, str]]:
    found = engine.free_pairs(catalog, catalog.studios[studio],
                              Order(catalog.treatments[treatment], duration), start, ledger,
                              EPOCH, therapist)
    return [(pair.therapist.id, pair.room.id) for pair in found]


def confirmed(start: int, therapist: str, room: str, minutes: int = 60, studio="studio",
              treatment="massage") -> Reservation:
    return Reservation(f"h-{start}-{therapist}", studio, treatment, minutes, therapist, room,
                       start, start + minutes * 60, start + minutes * 60,
                       Money(Decimal("80.00"), "GBP"), 0, f"b-{therapist}")


def two_therapists_and_a_multi_use_room() -> dict:
    doc = city_doc()
    doc["therapists"].append({**copy.deepcopy(doc["therapists"][0]), "id": "ben",
                              "name": "Ben"})
    doc["rooms"].append({"id": "all-in-one", "studio": "studio", "name": "Big room",
                         "equipment": ["overhead_bars", "floor_mat", "massage_table"]})
    return doc


def test_a_massage_takes_the_plain_table_room_and_leaves_the_bars_room_free():
    catalog = parse_catalog(two_therapists_and_a_multi_use_room(), "t.yaml")
    assert pairs(catalog, "massage")[0][1] == "table"


def test_the_bars_room_is_used_for_massage_when_it_is_the_only_one_left():
    catalog = parse_catalog(two_therapists_and_a_multi_use_room(), "t.yaml")
    ledger = [confirmed(TEN, "ana", "table")]
    assert pairs(catalog, "massage", ledger=ledger) == [("ben", "all-in-one")]


def test_the_therapist_who_just_finished_takes_the_next_treatment():
    catalog = parse_catalog(two_therapists_and_a_multi_use_room(), "t.yaml")
    ledger = [confirmed(TEN - 3600, "ben", "table")]
    assert pairs(catalog, "ashiatsu", ledger=ledger)[0] == ("ben", "bars")


def test_ties_are_broken_by_id_so_the_choice_is_repeatable():
    catalog = parse_catalog(two_therapists_and_a_multi_use_room(), "t.yaml")
    assert pairs(catalog, "ashiatsu") == [("ana", "bars"), ("ben", "bars"),
                                          ("ana", "all-in-one"), ("ben", "all-in-one")]


def test_a_named_therapist_is_the_only_one_offered():
    assert {t for t, _ in pairs(london(), studio="camden", therapist="maya")} == {"maya"}


def test_a_start_off_the_grid_or_outside_opening_hours_is_named():
    studio = london().studios["camden"]
    assert "grid" in engine.start_problem(studio, 4500, TEN + 5 * 60)
    late = at("2027-01-05T20:30:00+00:00")  # 20:30 + 75 min passes the 21:30 closing
    assert "opening hours" in engine.start_problem(studio, 4500, late)
    assert engine.start_problem(studio, 4500, TEN) is None


# Catalog changes ------------------------------------------------------------------

def test_a_booking_still_fits_an_unchanged_catalog():
    catalog = london()
    assert engine.misfit(catalog, confirmed(TEN, "maya", "camden-bars", studio="camden",
                                            treatment="ashiatsu")) is None


def test_time_off_over_a_booking_strands_it():
    catalog = london()
    booking = confirmed(TEN, "maya", "camden-bars", studio="camden", treatment="ashiatsu")
    maya = replace(catalog.therapists["maya"], time_off=(Absence(date(2027, 1, 5),
                                                                  date(2027, 1, 5)),))
    assert "off" in engine.misfit(catalog.with_entry("therapists", maya), booking)


def test_a_closure_shorter_hours_or_a_lost_skill_strand_a_booking():
    catalog, booking = london(), confirmed(TEN, "maya", "camden-bars", studio="camden",
                                           treatment="ashiatsu")
    camden = catalog.studios["camden"]
    closed = replace(camden, closures=(Absence(datetime.fromisoformat("2027-01-05T10:30Z"),
                                               datetime.fromisoformat("2027-01-05T11:00Z")),))
    later = replace(camden, opening_hours={**camden.opening_hours, 1: ()})
    unskilled = replace(catalog.therapists["maya"], skills=frozenset({"deep_tissue"}))
    assert "closed" in engine.misfit(catalog.with_entry("studios", closed), booking)
    assert "opening hours" in engine.misfit(catalog.with_entry("studios", later), booking)
    assert "skill" in engine.misfit(catalog.with_entry("therapists", unskilled), booking)


def test_time_off_on_another_day_strands_nothing():
    catalog = london()
    booking = confirmed(TEN, "maya", "camden-bars", studio="camden", treatment="ashiatsu")
    maya = replace(catalog.therapists["maya"], time_off=(Absence(date(2027, 1, 6),
                                                                  date(2027, 1, 7)),))
    assert engine.misfit(catalog.with_entry("therapists", maya), booking) is None
