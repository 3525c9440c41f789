"""The waitlist through the gateway, every process real, on the real clock: a
cancelled time goes to the first waiter, then (declined) to the next, who books it;
and a burst of cancellations with the booking worker killed midway still offers
every freed time to exactly one entry."""

from __future__ import annotations

import signal
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from standardwebhooks import Webhook

from tests.e2e.partner import CUSTOMER, INTAKE, book, direct, offered, separate_starts
from tests.e2e.stack import london_instant
from tests.helpers import WebhookReceiver, wait_for


@pytest.fixture(scope="module")
def hooks(stack):
    receiving = WebhookReceiver().start()
    hook = stack.post("/v1/webhooks", key="partner", json={
        "url": receiving.url, "events": ["waitlist.offered", "waitlist.accepted"]})
    assert hook.status_code == 201, hook.text
    receiving.secret = hook.json()["secret"]
    yield receiving
    receiving.stop()


def join(stack, name: str, windows: list[dict]) -> dict:
    response = stack.post("/v1/waitlist", key="partner", json={
        "studio": "camden", "treatment": "ashiatsu", "duration": 60, "windows": windows,
        "intake": INTAKE,
        "customer": {**CUSTOMER, "name": name, "email": f"{name.lower()}@waitlist.example"}},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()


def status_of(stack, entry: dict) -> dict:
    return stack.get(f"/v1/waitlist/{entry['id']}", key="partner").json()


def offered_to(stack, entry: dict) -> dict | None:
    state = status_of(stack, entry)
    return state if state["status"] == "offered" else None


def test_a_cancelled_time_goes_to_the_first_waiter_then_the_next(stack, hooks):
    day = stack.workday()
    start = london_instant(day, "10:00")
    booking = book(stack, direct(start)).json()
    first, second = (join(stack, name, [{"from": start, "to": london_instant(day, "11:00")}])
                     for name in ("Ada", "Grace"))
    assert stack.post(f"/v1/bookings/{booking['id']}/cancel", key="partner",
                      json={}).status_code == 200
    offer = wait_for(lambda: offered_to(stack, first), timeout_s=15, what="the first offer")
    assert offer["offer"]["start"] == start and status_of(stack, second)["status"] == "waiting"

    def webhook_for(entry: dict):
        return [r for r in hooks.received if r.json()["data"]["id"] == entry["id"]]

    [received] = wait_for(lambda: webhook_for(first), timeout_s=15, what="waitlist.offered")
    Webhook(hooks.secret).verify(received.body, received.headers)
    assert received.json()["type"] == "waitlist.offered"
    assert received.json()["data"]["customer"]["email"] == "ada@waitlist.example"

    assert stack.post(f"/v1/waitlist/{first['id']}/decline", key="partner").status_code == 200
    wait_for(lambda: offered_to(stack, second), timeout_s=15, what="the second offer")
    accepted = stack.post(f"/v1/waitlist/{second['id']}/accept", key="partner",
                          headers={"Idempotency-Key": uuid.uuid4().hex})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["start"] == start and start not in offered(stack, day)
    assert status_of(stack, second)["booking"] == accepted.json()["id"]
    emails = wait_for(lambda: [m for m in stack.smtp.messages
                               if m["To"] == "ada@waitlist.example"
                               and m["Subject"].startswith("A time for you")],
                      timeout_s=15, what="the offer email")
    [text] = [p for p in emails[0].walk() if p.get_content_type() == "text/plain"]
    assert "Triyoga Camden" in text.get_payload(decode=True).decode()
    assert not [p for p in emails[0].walk() if p.get_content_type() == "text/calendar"]


def test_a_booking_worker_killed_during_a_freeing_burst_still_offers_each_time_once(stack):
    days = [stack.workday(), stack.workday()]
    starts = separate_starts(days)  # both days full: 20 bookings
    bookings = [book(stack, direct(start)).json()["id"] for start in starts]
    windows = [{"from": london_instant(day, "08:00"), "to": london_instant(day, "21:00")}
               for day in days]
    line = [join(stack, f"Burst{i:02d}", windows) for i in range(28)]

    def cancel(booking_id: str) -> int:
        return stack.post(f"/v1/bookings/{booking_id}/cancel", key="partner",
                          json={}).status_code

    with ThreadPoolExecutor(4) as pool:
        first_half = list(pool.map(cancel, bookings[:10]))
        stack.stop_process("booking-worker", signal.SIGKILL)  # mid-burst, news in flight
        second_half = list(pool.map(cancel, bookings[10:]))
    assert first_half + second_half == [200] * 20
    stack.start_process("booking-worker")

    def all_offered():
        states = [status_of(stack, entry) for entry in line]
        made = [s for s in states if s["status"] == "offered"]
        return states if len(made) >= 20 else None

    states = wait_for(all_offered, timeout_s=60, interval_s=0.5, what="20 offers")
    made = [s for s in states if s["status"] == "offered"]
    assert sorted(s["offer"]["start"] for s in made) == sorted(starts)  # each time once
    assert [s["id"] for s in made] == [e["id"] for e in line[:20]]  # first come first
