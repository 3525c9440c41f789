"""The rules across catalog entries, on domain dataclasses alone (no YAML, no
marshmallow, no Redis): what `spa catalog check` and every admin change apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from decimal import Decimal

from services.availability.catalog_rules import Problem, assemble, check, wrong_city
from services.availability.domain import (
    City,
    Requires,
    Room,
    Shift,
    Studio,
    Therapist,
    TimeRange,
    Treatment,
)

LONDON = City("london", "London", "Europe/London", "GBP")
NINE_TO_FIVE = TimeRange(time(9), time(17))
STUDIO = Studio("camden", "Camden", "Europe/London", dict.fromkeys(range(7), (NINE_TO_FIVE,)))
BARS = Room("bars", "camden", "Bars room", frozenset({"overhead_bars"}))
MAYA = Therapist("maya", "Maya", frozenset({"ashiatsu"}),
                 (Shift("camden", frozenset({0, 1}), NINE_TO_FIVE),))
ASHIATSU = Treatment("ashiatsu", "Ashiatsu", (60, 90),
                     {60: Decimal("95.00"), 90: Decimal("135.00")},
                     Requires("ashiatsu", frozenset({"overhead_bars"})))


def catalog_of(studios=(STUDIO,), rooms=(BARS,), therapists=(MAYA,), treatments=(ASHIATSU,)):
    return assemble(LONDON, frozenset({"overhead_bars", "floor_mat"}),
                    frozenset({"ashiatsu", "massage"}),
                    {"studios": list(studios), "rooms": list(rooms),
                     "therapists": list(therapists), "treatments": list(treatments)})


def problems_of(**entries) -> list[Problem]:
    catalog, problems = catalog_of(**entries)
    return problems + check(catalog)


def test_a_consistent_catalog_has_no_problem_and_knows_its_city_and_currency():
    catalog, problems = catalog_of()
    assert problems == [] and check(catalog) == []
    assert catalog.studios["camden"].city == "london"
    assert catalog.treatments["ashiatsu"].price(90).to_json() == {"amount": "135.00",
                                                                  "currency": "GBP"}


def test_missing_and_repeated_ids_are_named_by_their_place():
    found = problems_of(rooms=(BARS, replace(BARS, name="again"), replace(BARS, id="")))
    assert Problem("rooms[bars]", "id", "duplicate id (entry #2)") in found
    assert Problem("rooms[#3]", "id", "missing") in found


def test_unknown_vocabulary_and_studios_are_named_with_what_is_known():
    room = replace(BARS, studio="soho", equipment=frozenset({"trampoline"}))
    found = problems_of(rooms=(room,))
    assert Problem("rooms[bars]", "studio", "unknown studio 'soho' (known: camden)") in found
    assert Problem("rooms[bars]", "equipment",
                   "unknown name 'trampoline' (known: floor_mat, overhead_bars)") in found


def test_a_shift_must_lie_inside_the_opening_hours_of_each_of_its_days():
    closed_sunday = replace(STUDIO, opening_hours={0: (NINE_TO_FIVE,)})
    late = Shift("camden", frozenset({0, 6}), TimeRange(time(16), time(18)))
    found = problems_of(studios=(closed_sunday,), therapists=(replace(MAYA, shifts=(late,)),))
    assert [p.message for p in found] == [
        "#1: mon 16:00-18:00 is outside camden's opening hours (09:00-17:00)",
        "#1: sun 16:00-18:00 is outside camden's opening hours (closed)"]


def test_one_therapist_works_one_place_at_a_time():
    other = replace(STUDIO, id="islington")
    shifts = (Shift("camden", frozenset({0}), TimeRange(time(9), time(13))),
              Shift("islington", frozenset({0, 2}), TimeRange(time(12), time(17))))
    found = problems_of(studios=(STUDIO, other), therapists=(replace(MAYA, shifts=shifts),))
    assert found == [Problem("therapists[maya]", "shifts", "#1 and #2 overlap")]


def test_back_to_back_shifts_do_not_overlap():
    shifts = (Shift("camden", frozenset({0}), TimeRange(time(9), time(13))),
              Shift("camden", frozenset({0}), TimeRange(time(13), time(17))))
    assert problems_of(therapists=(replace(MAYA, shifts=shifts),)) == []


def test_a_treatment_needs_exactly_one_price_per_duration():
    found = problems_of(treatments=(replace(ASHIATSU, prices={60: Decimal("95.00")}),))
    assert found == [Problem("treatments[ashiatsu]", "prices",
                             "give exactly one price per duration [60, 90]")]


def test_a_price_finer_than_the_city_currency_is_named_and_whole_units_pass():
    yen = replace(ASHIATSU, prices={60: Decimal("9500.50"), 90: Decimal("13500.00")})
    entries = {"studios": [STUDIO], "rooms": [BARS], "therapists": [MAYA], "treatments": [yen]}
    catalog, _ = assemble(replace(LONDON, currency="JPY"),
                          frozenset({"overhead_bars", "floor_mat"}), frozenset({"ashiatsu"}),
                          entries)
    assert check(catalog) == [Problem("treatments[ashiatsu]", "prices",
                                      "9500.50 is finer than the JPY minor unit (1)")]
    assert problems_of(treatments=(replace(ASHIATSU, prices={60: Decimal("95.50"),
                                                             90: Decimal("135.00")}),)) == []


def test_a_file_for_another_city_is_refused():
    catalog, _ = catalog_of()
    assert wrong_city("london.yaml", catalog, "london") is None
    error = wrong_city("london.yaml", catalog, "new-york")
    assert "this file is for 'london' but SPA_CITY is 'new-york'" in str(error)
