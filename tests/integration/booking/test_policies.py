"""Studio policies through the booking API, against real availability: add-ons priced
item by item, the booking window, fees for late cancellations and no-shows, and the
events that carry them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.helpers import ManualClock
from tests.integration.booking.availability import NOW
from tests.integration.booking.support import START, Api, assert_problem, direct_booking

STRETCH_AND_OIL = ["resistance-stretching", "aromatherapy-oil"]


@pytest.fixture
def clock() -> ManualClock:
    """Booking's clock: where availability's stands, set to the moment a fee test needs."""
    return ManualClock(NOW)


@pytest.fixture
def partner(app, api_keys, availability) -> Api:
    return Api(app, api_keys["partner"])


def events(partner) -> list:
    return partner.client.application.extensions["spa"].store.due_events()


def test_a_booking_with_add_ons_is_longer_dearer_and_priced_item_by_item(partner):
    booking = partner.book(direct_booking(addons=STRETCH_AND_OIL)).get_json()
    assert booking["addons"] == STRETCH_AND_OIL
    assert booking["end"] == "2027-03-10T11:15:00+00:00"  # 60 + 15 minutes
    assert booking["therapist"] == "maya"  # the one trained in resistance stretching
    assert booking["price"] == {"amount": "123.00", "currency": "GBP"}
    assert booking["price_breakdown"] == {
        "treatment": {"amount": "95.00", "currency": "GBP"},
        "addons": [{"id": "resistance-stretching", "name": "Dynamic resistance stretching",
                    "price": {"amount": "20.00", "currency": "GBP"}},
                   {"id": "aromatherapy-oil", "name": "Aromatherapy oil",
                    "price": {"amount": "8.00", "currency": "GBP"}}],
        "total": {"amount": "123.00", "currency": "GBP"}}
    assert booking["policy"] == {"free_cancellation_until": "2027-03-09T10:00:00+00:00",
                                 "late_fee": {"amount": "61.50", "currency": "GBP"},
                                 "no_show_fee": {"amount": "123.00", "currency": "GBP"}}
    assert booking["fee"] is None


def test_an_add_on_the_treatment_does_not_allow_is_named_and_nothing_is_held(partner,
                                                                              availability):
    response = partner.book(direct_booking(addons=["hot-stones"]))
    problem = assert_problem(response, 422, "validation_error")
    assert "'hot-stones' is not an add-on of ashiatsu" in problem["errors"]["addons"][0]
    assert availability.reservations() == []


def test_a_start_inside_the_minimum_notice_is_outside_the_window(partner, availability):
    soon = (NOW + timedelta(minutes=60)).isoformat()  # London wants 120 minutes' notice
    problem = assert_problem(partner.book(direct_booking(soon)), 422,
                             "outside_booking_window")
    assert problem["earliest"] == (NOW + timedelta(minutes=120)).isoformat()
    assert problem["latest"] == (NOW + timedelta(days=60)).isoformat()
    assert availability.reservations() == []


def test_a_start_beyond_the_horizon_is_outside_the_window(partner):
    far = (NOW + timedelta(days=61)).replace(hour=10).isoformat()
    assert_problem(partner.book(direct_booking(far)), 422, "outside_booking_window")


def test_a_gender_with_no_able_therapist_finds_no_slot(partner):
    response = partner.book(direct_booking(addons=["resistance-stretching"],
                                           therapist_gender="male"))
    assert_problem(response, 409, "slot_unavailable")  # jonas does not stretch


def test_cancelling_before_the_free_deadline_costs_nothing(partner, clock):
    booking = partner.book(direct_booking()).get_json()
    clock.at = datetime.fromisoformat(booking["policy"]["free_cancellation_until"])
    cancelled = partner.post(f"/v1/bookings/{booking['id']}/cancel", json={}).get_json()
    assert cancelled["fee"] == {"amount": "0.00", "currency": "GBP"}
    assert cancelled["late_cancellation"] is False


def test_cancelling_after_the_free_deadline_costs_the_late_fee_and_the_event_says_so(
        partner, clock):
    booking = partner.book(direct_booking()).get_json()
    clock.at = datetime.fromisoformat(START) - timedelta(hours=2)
    cancelled = partner.post(f"/v1/bookings/{booking['id']}/cancel", json={}).get_json()
    assert cancelled["fee"] == {"amount": "47.50", "currency": "GBP"}  # 50% of 95.00
    assert cancelled["late_cancellation"] is True
    [event] = [e for e in events(partner) if e.type == "booking.cancelled"]
    assert event.payload["booking"]["fee"] == cancelled["fee"]


def test_a_no_show_costs_the_no_show_fee(partner, clock):
    booking = partner.book(direct_booking(addons=["aromatherapy-oil"])).get_json()
    clock.at = datetime.fromisoformat(START) + timedelta(hours=2)
    missed = partner.post(f"/v1/bookings/{booking['id']}/no-show").get_json()
    assert (missed["status"], missed["fee"]) == ("no_show", {"amount": "103.00",
                                                             "currency": "GBP"})
    [event] = [e for e in events(partner) if e.type == "booking.no_show"]
    assert event.payload["booking"]["fee"] == missed["fee"]


def test_a_reschedule_keeps_price_and_terms_and_checks_the_window_again(partner):
    booking = partner.book(direct_booking(addons=STRETCH_AND_OIL)).get_json()
    path = f"/v1/bookings/{booking['id']}/reschedule"
    far = (NOW + timedelta(days=70)).replace(hour=10).isoformat()
    assert_problem(partner.post(path, json={"start": far}), 422, "outside_booking_window")
    moved = partner.post(path, json={"start": "2027-03-12T10:00:00+00:00"}).get_json()
    assert (moved["price"], moved["addons"]) == (booking["price"], STRETCH_AND_OIL)
    assert moved["end"] == "2027-03-12T11:15:00+00:00"
    assert moved["policy"]["free_cancellation_until"] == "2027-03-11T10:00:00+00:00"
    assert moved["policy"]["late_fee"] == booking["policy"]["late_fee"]


def test_the_booking_events_carry_add_ons_totals_and_the_policy(partner):
    booking = partner.book(direct_booking(addons=["aromatherapy-oil"])).get_json()
    [created] = [e for e in events(partner) if e.type == "booking.created"]
    sent = created.payload["booking"]
    assert sent["id"] == booking["id"] and sent["addons"] == ["aromatherapy-oil"]
    assert sent["price_breakdown"]["total"] == {"amount": "103.00", "currency": "GBP"}
    assert sent["policy"] == booking["policy"]
    assert created.payload["context"]["addons"] == [{"id": "aromatherapy-oil",
                                                     "name": "Aromatherapy oil"}]
