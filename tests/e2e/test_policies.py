"""Studio policies through the gateway, every process real, on the real clock: add-ons
in the search, the booking window, fees for late cancellation and no-show, and the
cancellation webhook that carries the fee. London: bookable from 2 hours to 60 days
ahead, free cancellation until 24 hours before, then 50%; a no-show pays 100%."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from standardwebhooks import Webhook

from tests.e2e.partner import book, direct, slots
from tests.helpers import WebhookReceiver, wait_for


@pytest.fixture(scope="module")
def receiver(stack):
    receiving = WebhookReceiver().start()
    hook = stack.post("/v1/webhooks", key="partner", json={
        "url": receiving.url, "events": ["booking.cancelled"]})
    assert hook.status_code == 201, hook.text
    receiving.secret = hook.json()["secret"]
    yield receiving
    receiving.stop()


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def test_a_search_with_an_add_on_offers_longer_dearer_slots_with_able_therapists(stack):
    day = stack.workday()
    plain = slots(stack, day)
    stretched = slots(stack, day, addons="resistance-stretching")
    assert {"maya", "jonas"} <= {t for slot in plain for t in slot["therapists"]}
    assert stretched and all(slot["therapists"] == ["maya"] for slot in stretched)
    first = stretched[0]
    minutes = (datetime.fromisoformat(first["end"]) - datetime.fromisoformat(first["start"]))
    assert minutes == timedelta(minutes=75)
    assert first["price"] == {"amount": "115.00", "currency": "GBP"}


def test_a_booking_inside_the_minimum_notice_is_refused_with_the_window(stack):
    now = datetime.now(UTC)
    soon = (now + timedelta(minutes=61)).replace(second=0, microsecond=0)
    soon -= timedelta(minutes=soon.minute % 15)  # on the grid, under 2 hours away
    response = book(stack, direct(instant(soon)))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "outside_booking_window"
    earliest = datetime.fromisoformat(problem["earliest"])
    assert timedelta(minutes=119) < earliest - now < timedelta(minutes=121)


def test_cancelling_well_ahead_costs_nothing(stack):
    booking = book(stack, direct(slots(stack, stack.workday())[0]["start"])).json()
    cancelled = stack.post(f"/v1/bookings/{booking['id']}/cancel", key="partner", json={})
    assert cancelled.json()["fee"] == {"amount": "0.00", "currency": "GBP"}
    assert cancelled.json()["late_cancellation"] is False


def test_cancelling_within_a_day_costs_half_and_the_webhook_says_so(stack, receiver):
    now = datetime.now(UTC)
    within_a_day = stack.get("/v1/slots", key="partner", params={
        "treatment": "ashiatsu", "duration": 60, "studio": "camden",
        "from": instant(now + timedelta(hours=2, minutes=5)),
        "to": instant(now + timedelta(hours=22))}).json()["items"]
    start = within_a_day[-1]["start"]  # the latest: the least likely to pass meanwhile
    booking = book(stack, direct(start, addons=["aromatherapy-oil"])).json()
    assert booking["price"] == {"amount": "103.00", "currency": "GBP"}
    cancelled = stack.post(f"/v1/bookings/{booking['id']}/cancel", key="partner", json={})
    assert cancelled.json()["fee"] == {"amount": "51.50", "currency": "GBP"}
    assert cancelled.json()["late_cancellation"] is True

    def delivered():
        return [r for r in receiver.received if r.json()["data"]["id"] == booking["id"]]

    [received] = wait_for(delivered, timeout_s=20, what="the cancellation webhook")
    Webhook(receiver.secret).verify(received.body, received.headers)
    data = received.json()["data"]
    assert (data["fee"], data["status"]) == (cancelled.json()["fee"], "cancelled")
    assert data["policy"]["late_fee"] == {"amount": "51.50", "currency": "GBP"}


def test_a_no_show_costs_the_whole_price(stack):
    booking = book(stack, direct(slots(stack, stack.workday())[0]["start"])).json()
    missed = stack.post(f"/v1/bookings/{booking['id']}/no-show", key="partner").json()
    assert missed["status"] == "no_show"
    assert Decimal(missed["fee"]["amount"]) == Decimal(booking["price"]["amount"])
