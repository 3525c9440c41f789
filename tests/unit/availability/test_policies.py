"""Studio policies in the slot search and the choice of a pair, with no Redis: the
booking window at its edges, add-ons (longer, dearer, only able therapists and rooms),
and a client's wish for a therapist's gender."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from services.availability import engine
from services.availability.catalog_loader import parse_catalog
from services.availability.domain import BookingWindow, Order
from services.common.errors import Invalid, NotFound
from services.common.money import Money
from tests.unit.availability.catalogs import at, city_doc, local

DAY = date(2027, 1, 5)  # a Tuesday
NINE = at("2027-01-05T09:00:00+00:00")
BEFORE = at("2026-12-20T00:00:00+00:00")  # "now": well inside any window of DAY


def catalog_with_addons(window: dict | None = None, zone: str = "Europe/London"):
    """The test city with ana (ashiatsu, stretching) and ben (ashiatsu), a bars room
    with a speaker; stretching +15 min needs the skill; music +0 min needs the speaker;
    oil is free."""
    doc = city_doc(zone=zone)
    doc["skills"].append("stretching")
    doc["equipment"].append("speaker")
    doc["rooms"][0]["equipment"].append("speaker")
    doc["rooms"].append({"id": "bars2", "studio": "studio", "name": "Second bars room",
                         "equipment": ["overhead_bars", "floor_mat"]})
    ana = doc["therapists"][0]
    ana["skills"].append("stretching")
    ana["gender"] = "female"
    ben = {**copy.deepcopy(ana), "id": "ben", "name": "Ben", "gender": "male",
           "skills": ["ashiatsu"]}
    doc["therapists"].append(ben)
    doc["addons"] = [
        {"id": "stretching", "name": "Stretching", "extra_min": 15,
         "prices": {"30": "10.00", "60": "20.00"}, "requires": {"skill": "stretching"}},
        {"id": "music", "name": "Live music", "extra_min": 0, "price": "12.50",
         "requires": {"equipment": ["speaker"]}},
        {"id": "oil", "name": "Oil", "extra_min": 0, "price": "0.00"},
    ]
    doc["treatments"][0]["addons"] = ["stretching", "music", "oil"]
    if window:
        doc["studios"][0]["booking_window"] = window
    return parse_catalog(doc, "test.yaml")


def search(catalog, addons=(), now=BEFORE, gender=None, day=DAY):
    order = catalog.order("ashiatsu", 60, tuple(addons))
    query = engine.SlotQuery(order, (catalog.studios["studio"],), day, day,
                             therapist_gender=gender)
    return engine.search(catalog, query, [], now)


class TestBookingWindow:
    WINDOW = BookingWindow(min_notice_min=120, max_advance_days=60)

    def test_a_start_exactly_at_the_minimum_notice_is_bookable_a_second_sooner_is_not(self):
        start = NINE
        assert self.WINDOW.admits(start, now=start - 120 * 60)
        assert not self.WINDOW.admits(start, now=start - 120 * 60 + 1)

    def test_a_start_exactly_at_the_horizon_is_bookable_a_second_later_is_not(self):
        now = NINE - 60 * 86400
        assert self.WINDOW.admits(NINE, now)
        assert not self.WINDOW.admits(NINE + 1, now)

    def test_the_search_offers_nothing_inside_the_notice(self):
        catalog = catalog_with_addons({"min_notice_min": 120, "max_advance_days": 60})
        starts = [s.start for s in search(catalog, now=at("2027-01-05T10:00:00+00:00"))]
        assert min(starts) == at("2027-01-05T12:00:00+00:00")  # 10:00 + 2 h, on the grid

    def test_the_search_offers_nothing_beyond_the_horizon(self):
        catalog = catalog_with_addons({"min_notice_min": 0, "max_advance_days": 30})
        assert search(catalog, now=at("2026-12-06T08:59:00+00:00")) == []  # horizon 08:59
        exactly = search(catalog, now=at("2026-12-06T09:00:00+00:00"))
        assert [s.start for s in exactly] == [NINE]  # the horizon itself is bookable
        later = search(catalog, now=at("2026-12-06T09:30:00+00:00"))
        assert max(s.start for s in later) == at("2027-01-05T09:30:00+00:00")

    def test_a_treatment_may_have_a_window_of_its_own(self):
        catalog = catalog_with_addons({"min_notice_min": 0, "max_advance_days": 30})
        treatment = catalog.treatments["ashiatsu"]
        own = BookingWindow(0, 400)
        assert catalog.window(catalog.studios["studio"], treatment).max_advance_days == 30
        assert catalog.window(catalog.studios["studio"],
                              replace(treatment, booking_window=own)) == own

    def test_the_notice_is_counted_in_real_time_across_the_spring_clock_change(self):
        """28 Mar 2027, London springs forward at 01:00 UTC: from 00:30 UTC (00:30 GMT)
        two hours of notice end at 02:30 UTC, which is 03:30 BST on the wall."""
        doc_window = {"min_notice_min": 120, "max_advance_days": 60}
        catalog = catalog_with_addons(doc_window)  # open 09:00-17:00 every day
        slots = search(catalog, now=at("2027-03-28T07:30:00+00:00"), day=date(2027, 3, 28))
        first = local(slots[0].start, catalog)
        assert f"{first:%H:%M %Z}" == "10:30 BST"  # 07:30 UTC = 08:30 BST, + 2 h


class TestAddOns:
    def test_an_add_on_makes_the_slot_longer_and_dearer(self):
        catalog = catalog_with_addons()
        plain, stretched = search(catalog)[0], search(catalog, ["stretching"])[0]
        assert plain.end - plain.start == 60 * 60
        assert stretched.end - stretched.start == 75 * 60
        assert (plain.price, stretched.price) == (Money(Decimal("95.00"), "GBP"),
                                                 Money(Decimal("115.00"), "GBP"))

    def test_only_therapists_with_the_add_ons_skill_are_offered(self):
        catalog = catalog_with_addons()
        assert search(catalog)[0].therapists == ("ana", "ben")
        assert all(s.therapists == ("ana",) for s in search(catalog, ["stretching"]))

    def test_only_rooms_with_the_add_ons_equipment_are_used(self):
        catalog = catalog_with_addons()
        order = catalog.order("ashiatsu", 60, ("music",))
        pairs = engine.free_pairs(catalog, catalog.studios["studio"], order, NINE, [],
                                  at("2026-12-20T00:00:00Z"))
        assert {pair.room.id for pair in pairs} == {"bars"}

    def test_the_extra_minutes_must_fit_the_shift(self):
        catalog = catalog_with_addons()
        last_plain, last_long = search(catalog)[-1], search(catalog, ["stretching"])[-1]
        assert f"{local(last_plain.start, catalog):%H:%M}" == "16:00"
        assert f"{local(last_long.start, catalog):%H:%M}" == "15:45"

    def test_a_zero_priced_add_on_adds_nothing_to_the_price(self):
        catalog = catalog_with_addons()
        order = catalog.order("ashiatsu", 60, ("oil", "music"))
        assert order.price == Money(Decimal("107.50"), "GBP")
        assert order.price.to_json() == {"amount": "107.50", "currency": "GBP"}
        assert order.minutes == 60

    def test_an_add_on_the_treatment_does_not_allow_is_refused_by_name(self):
        catalog = catalog_with_addons()
        with pytest.raises(Invalid) as refused:
            catalog.order("massage", 60, ("stretching", "candles"))
        messages = refused.value.extra["errors"]["addons"]
        assert len(messages) == 2 and "'stretching' is not an add-on of massage" in messages[0]

    def test_an_unknown_treatment_is_not_found(self):
        with pytest.raises(NotFound):
            catalog_with_addons().order("reiki", 60)

    def test_order_minutes_and_busy_time(self):
        catalog = catalog_with_addons()
        order = Order(catalog.treatments["ashiatsu"], 60,
                      (catalog.addons["stretching"], catalog.addons["music"]))
        assert (order.minutes, order.busy_s) == (75, 75 * 60)
        assert order.skills == {"ashiatsu", "stretching"}
        assert order.equipment == {"overhead_bars", "floor_mat", "speaker"}


class TestTherapistGender:
    def test_a_client_may_ask_for_a_therapist_of_a_gender(self):
        catalog = catalog_with_addons()
        assert all(s.therapists == ("ben",) for s in search(catalog, gender="male"))
        assert all(s.therapists == ("ana",) for s in search(catalog, gender="female"))
        assert search(catalog, gender="non_binary") == []
