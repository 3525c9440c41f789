"""Studio policies through the booking API, against real availability: add-ons priced
item by item, the booking window, fees for late cancellations and no-shows, and the
events that carry them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from services.availability.domain import CancellationPolicy
from services.availability.handlers import catalog_admin
from tests.helpers import ManualClock
from tests.integration.booking.availability import NOW
from tests.integration.booking.support import (
    CUSTOMER,
    INTAKE,
    START,
    Api,
    assert_problem,
    direct_booking,
)

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


# holds with add-ons, a gender, outside the window

HOLD = {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": START}
WEDNESDAY_AFTERNOON = "2027-03-10T14:00:00+00:00"  # maya (female) and jonas (male) both work
WEDNESDAY_EVENING = "2027-03-10T17:00:00+00:00"  # jonas (male) only


def test_a_hold_with_add_ons_is_longer_dearer_and_its_booking_keeps_them(partner):
    response = partner.post("/v1/holds", json={**HOLD, "addons": STRETCH_AND_OIL})
    assert response.status_code == 201, response.get_json()
    held = response.get_json()
    assert (held["addons"], held["end"], held["therapist"]) == (
        STRETCH_AND_OIL, "2027-03-10T11:15:00+00:00", "maya")
    assert held["price"] == {"amount": "123.00", "currency": "GBP"}
    assert held["price_breakdown"]["treatment"] == {"amount": "95.00", "currency": "GBP"}
    assert [a["id"] for a in held["price_breakdown"]["addons"]] == STRETCH_AND_OIL
    booking = partner.book({"hold": held["id"], "customer": CUSTOMER, "intake": INTAKE})
    assert booking.status_code == 201, booking.get_json()
    assert {k: booking.get_json()[k] for k in ("addons", "price", "price_breakdown", "end")} == {
        k: held[k] for k in ("addons", "price", "price_breakdown", "end")}


@pytest.mark.parametrize(("gender", "therapist"), [("female", "maya"), ("male", "jonas")])
def test_a_hold_for_a_gender_takes_a_therapist_of_it(partner, gender, therapist):
    response = partner.post("/v1/holds", json={**HOLD, "start": WEDNESDAY_AFTERNOON,
                                               "therapist_gender": gender})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["therapist"] == therapist


def test_a_hold_outside_the_booking_window_is_refused_with_its_bounds(partner, availability):
    soon = (NOW + timedelta(minutes=119)).isoformat()
    problem = assert_problem(partner.post("/v1/holds", json={**HOLD, "start": soon}), 422,
                             "outside_booking_window")
    assert (problem["earliest"], problem["latest"]) == (
        (NOW + timedelta(minutes=120)).isoformat(), (NOW + timedelta(days=60)).isoformat())
    far = (NOW + timedelta(days=61)).replace(hour=10).isoformat()
    assert_problem(partner.post("/v1/holds", json={**HOLD, "start": far}), 422,
                   "outside_booking_window")
    assert availability.reservations() == []


# the therapist gender asked for stays with the booking

def test_a_reschedule_keeps_the_therapist_gender_asked_for(partner):
    booking = partner.book(direct_booking(therapist_gender="female")).get_json()
    assert (booking["therapist"], booking["therapist_gender"]) == ("maya", "female")
    path = f"/v1/bookings/{booking['id']}/reschedule"
    assert_problem(partner.post(path, json={"start": WEDNESDAY_EVENING}), 409,
                   "slot_unavailable")  # only jonas works then: not who was asked for
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json() == booking
    moved = partner.post(path, json={"start": "2027-03-11T10:00:00+00:00"}).get_json()
    assert (moved["therapist"], moved["therapist_gender"]) == ("maya", "female")
    anyone = partner.book(direct_booking("2027-03-12T10:00:00+00:00")).get_json()
    assert anyone["therapist_gender"] is None  # without a preference the evening is open
    evening = partner.post(f"/v1/bookings/{anyone['id']}/reschedule",
                           json={"start": "2027-03-12T17:00:00+00:00"}).get_json()
    assert evening["therapist"] == "jonas"


def test_a_booking_made_from_a_hold_for_a_gender_keeps_it_when_moved(partner):
    held = partner.post("/v1/holds", json={**HOLD, "start": WEDNESDAY_AFTERNOON,
                                           "therapist_gender": "male"}).get_json()
    booking = partner.book({"hold": held["id"], "customer": CUSTOMER, "intake": INTAKE})
    assert booking.get_json()["therapist_gender"] == "male"
    path = f"/v1/bookings/{booking.get_json()['id']}/reschedule"
    assert_problem(partner.post(path, json={"start": START}), 409,  # maya only at 10:00
                   "slot_unavailable")


def test_a_client_preferring_a_gender_keeps_it_when_moved(partner):
    client = partner.post("/v1/clients", json={**CUSTOMER, "preferences": {
        "therapist_gender": "female"}}).get_json()
    body = {k: v for k, v in direct_booking().items() if k != "customer"}
    booking = partner.book({**body, "client": client["id"]}).get_json()
    assert booking["therapist_gender"] == "female"
    assert_problem(partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                                json={"start": WEDNESDAY_EVENING}), 409, "slot_unavailable")


def test_a_booking_stored_before_genders_were_kept_still_loads_and_moves(partner, app):
    booking = partner.book(direct_booking()).get_json()
    store = app.extensions["spa"].store
    key = store.k("booking", booking["id"])
    stored = json.loads(store.redis.get(key))
    del stored["therapist_gender"]
    store.redis.set(key, json.dumps(stored))
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json()["therapist_gender"] is None
    moved = partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                         json={"start": WEDNESDAY_EVENING}).get_json()
    assert moved["therapist"] == "jonas"


# a studio's policy change applies to new bookings only

def test_a_policy_and_price_change_reaches_new_bookings_only(partner, availability, clock):
    before = partner.book(direct_booking()).get_json()
    catalog = availability.ctx.catalog()
    camden, ashiatsu = catalog.studios["camden"], catalog.treatments["ashiatsu"]
    catalog_admin.put_entry(availability.ctx, "studios", replace(
        camden, cancellation=CancellationPolicy(2, Decimal(0), Decimal(20))), "camden")
    catalog_admin.put_entry(availability.ctx, "treatments", replace(
        ashiatsu, prices={**ashiatsu.prices, 60: Decimal("105.00")}), "ashiatsu")
    after = partner.book(direct_booking("2027-03-10T12:00:00+00:00")).get_json()
    assert before["price"] == {"amount": "95.00", "currency": "GBP"}
    assert before["policy"] == {"free_cancellation_until": "2027-03-09T10:00:00+00:00",
                                "late_fee": {"amount": "47.50", "currency": "GBP"},
                                "no_show_fee": {"amount": "95.00", "currency": "GBP"}}
    assert after["price"] == {"amount": "105.00", "currency": "GBP"}
    assert after["policy"] == {"free_cancellation_until": "2027-03-10T10:00:00+00:00",
                               "late_fee": {"amount": "0.00", "currency": "GBP"},
                               "no_show_fee": {"amount": "21.00", "currency": "GBP"}}
    assert partner.get(f"/v1/bookings/{before['id']}").get_json()["policy"] == before["policy"]
    clock.at = datetime.fromisoformat("2027-03-10T07:00:00+00:00")  # late by the old terms only
    fees = [partner.post(f"/v1/bookings/{b['id']}/cancel", json={}).get_json()["fee"]["amount"]
            for b in (before, after)]
    assert fees == ["47.50", "0.00"]


def test_the_cancel_route_documents_its_fee_and_late_cancellation(app):
    document = app.test_client().get("/v1/openapi.json").get_json()
    cancel = document["paths"]["/v1/bookings/{booking_id}/cancel"]["post"]
    words = f"{cancel.get('summary', '')} {cancel.get('description', '')}"
    assert "`fee`" in words and "`late_cancellation`" in words
