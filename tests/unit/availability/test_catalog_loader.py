"""A city file with mistakes: each one is named by file, entry and field, all at once."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import yaml

from services.availability.catalog_loader import (
    CatalogError,
    dump_catalog,
    load_file,
    parse_stored,
)
from services.availability.domain import WEEKDAYS, CancellationPolicy
from tests.unit.availability.catalogs import LONDON_FILE, NEW_YORK_FILE, city_doc


def problems_of(doc: dict, tmp_path) -> list[str]:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogError) as caught:
        load_file(path)
    return str(caught.value).splitlines()


@pytest.mark.parametrize("path", [LONDON_FILE, NEW_YORK_FILE])
def test_the_shipped_city_files_load(path):
    catalog = load_file(path)
    assert catalog.studios and catalog.treatments


def test_the_stored_form_loads_back_to_the_same_catalog(tmp_path):
    catalog = load_file(LONDON_FILE)
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(dump_catalog(catalog)))
    assert load_file(path) == catalog


def test_the_demo_city_is_what_the_product_promises():
    catalog = load_file(LONDON_FILE)
    ashiatsu = catalog.treatments["ashiatsu"]
    assert catalog.city.currency == "GBP" and ashiatsu.durations_min == (60, 90)
    assert set(ashiatsu.contraindications) == {"pregnancy", "recent_surgery", "recent_injury"}
    assert ashiatsu.no_food_before_min == 180
    assert [t.id for t in catalog.alternatives("camden", ashiatsu)] == ["relaxation"]
    assert not catalog.offers("islington", ashiatsu)
    camden_days = {day for t in catalog.therapists_at("camden") for s in t.shifts
                   if s.studio == "camden" and "ashiatsu" in t.skills for day in s.days}
    assert camden_days == set(range(7))  # ashiatsu at camden every day of the week


def test_an_unknown_equipment_name_is_named_with_its_room(tmp_path):
    doc = city_doc()
    doc["rooms"][0]["equipment"] = ["overhead_bars", "bars"]
    assert problems_of(doc, tmp_path) == [
        "broken.yaml: rooms[bars]: equipment: unknown name 'bars' "
        "(known: floor_mat, massage_table, overhead_bars)"]


def test_a_shift_outside_opening_hours_is_named_with_its_day(tmp_path):
    doc = city_doc()
    doc["therapists"][0]["shifts"][0]["hours"] = "08:00-17:00"
    found = problems_of(doc, tmp_path)
    assert len(found) == len(WEEKDAYS)
    assert found[0] == ("broken.yaml: therapists[ana]: shifts: #1: mon 08:00-17:00 is "
                        "outside studio's opening hours (09:00-17:00)")


def test_a_duplicate_id_is_named(tmp_path):
    doc = city_doc()
    doc["rooms"].append(copy.deepcopy(doc["rooms"][1]))
    assert problems_of(doc, tmp_path) == ["broken.yaml: rooms[table]: id: duplicate id (entry #3)"]


def test_an_unknown_zone_is_named(tmp_path):
    doc = city_doc()
    doc["studios"][0]["timezone"] = "Europe/Londres"
    assert problems_of(doc, tmp_path) == [
        "broken.yaml: studios[studio]: timezone: unknown time zone 'Europe/Londres' "
        "(an IANA name, e.g. Europe/London)"]


def test_references_to_unknown_studios_are_named(tmp_path):
    doc = city_doc()
    doc["rooms"][0]["studio"] = "nowhere"
    doc["therapists"][0]["shifts"][0]["studio"] = "nowhere"
    assert problems_of(doc, tmp_path) == [
        "broken.yaml: rooms[bars]: studio: unknown studio 'nowhere' (known: studio)",
        "broken.yaml: therapists[ana]: shifts: #1: unknown studio 'nowhere' (known: studio)"]


def test_every_mistake_is_reported_in_one_go(tmp_path):
    doc = city_doc()
    doc["studios"][0]["opening_hours"]["mon"] = "9-5"
    doc["treatments"][0]["prices"] = {"30": "50.00"}
    doc["treatments"][1]["contraindications"] = ["flu"]
    doc["rooms"].append({"studio": "studio", "name": "No id", "equipment": []})
    found = problems_of(doc, tmp_path)
    assert "broken.yaml: studios[studio]: opening_hours: '9-5' is not 'HH:MM-HH:MM' " \
           "(quote it in YAML)" in found
    assert "broken.yaml: treatments[massage]: contraindications.0: Must be one of: " \
           "pregnancy, recent_surgery, recent_injury." in found
    assert "broken.yaml: rooms[#3]: id: Missing data for required field." in found


def test_cross_entry_rules_are_checked_once_shapes_are_right(tmp_path):
    doc = city_doc()
    doc["treatments"][0]["prices"] = {"30": "50.00"}
    doc["therapists"][0]["shifts"].append({"studio": "studio", "days": ["mon"],
                                           "hours": "10:00-11:00"})
    assert problems_of(doc, tmp_path) == [
        "broken.yaml: therapists[ana]: shifts: #1 and #2 overlap",
        "broken.yaml: treatments[ashiatsu]: prices: give exactly one price per duration "
        "[30, 60]"]


def test_bad_yaml_is_reported_not_raised(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("city: {id: london\n")
    with pytest.raises(CatalogError, match=r"^bad.yaml: file: -: "):
        load_file(path)


def test_an_old_file_with_a_cancellation_window_is_told_how_to_write_the_policy(tmp_path):
    doc = city_doc()
    doc["studios"][0]["cancellation_window_h"] = 24
    [problem] = problems_of(doc, tmp_path)
    assert "studios[studio]: cancellation_window_h: cancellation_window_h was replaced by" in (
        problem)
    assert "cancellation: {free_until_h: 24, late_fee_percent: 50" in problem


def test_a_stored_catalog_from_before_fees_keeps_working_with_no_fees():
    doc = dump_catalog(load_file(LONDON_FILE))
    for studio in doc["studios"]:
        del studio["cancellation"]
        studio["cancellation_window_h"] = 48
    studio = parse_stored(doc).studios["camden"]
    assert studio.cancellation == CancellationPolicy(48, Decimal(0), Decimal(0))


@pytest.mark.parametrize("field, value, message", [
    ("cancellation", {"free_until_h": -1, "late_fee_percent": 50, "no_show_fee_percent": 100},
     "free_until_h"),
    ("cancellation", {"free_until_h": 24, "late_fee_percent": 150, "no_show_fee_percent": 100},
     "late_fee_percent"),
    ("cancellation", {"free_until_h": 24, "late_fee_percent": "lots",
                      "no_show_fee_percent": 100}, "late_fee_percent"),
    ("booking_window", {"min_notice_min": 0, "max_advance_days": 100_000}, "max_advance_days"),
    ("booking_window", {"min_notice_min": 90 * 24 * 60, "max_advance_days": 60},
     "min_notice_min"),
])
def test_absurd_policy_values_are_named(tmp_path, field, value, message):
    doc = city_doc()
    doc["studios"][0][field] = value
    assert any(f"studios[studio]: {field}.{message}" in p for p in problems_of(doc, tmp_path))


def test_add_ons_are_checked_against_the_treatments_that_allow_them(tmp_path):
    doc = city_doc()
    doc["addons"] = [{"id": "stretch", "name": "Stretch", "extra_min": 15,
                      "prices": {"60": "20.00"}, "requires": {"skill": "yoga"}},
                     {"id": "both", "name": "Both", "extra_min": 0, "price": "1.00",
                      "prices": {"60": "1.00"}}]
    doc["treatments"][0]["addons"] = ["stretch", "candles"]
    assert any("addons[both]: price: give either prices" in p
               for p in problems_of(doc, tmp_path))  # shapes first
    doc["addons"].pop()
    found = problems_of(doc, tmp_path)
    assert any("addons[stretch]: requires.skill: unknown name 'yoga'" in p for p in found)
    assert any("treatments[ashiatsu]: addons: unknown add-on 'candles'" in p for p in found)
    assert any("add-on 'stretch' has no price for 30 minutes" in p for p in found)
