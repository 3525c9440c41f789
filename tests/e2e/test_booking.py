"""Booking as a partner meets it through the gateway, every process real: search,
hold, book, cancel; screening; retries; scope; and no double booking under a burst,
even when the booking process is killed in the middle of it.

Each test books on a day of its own (`stack.day()`), so the shared stack's ledger
never mixes them up."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import pytest
import requests

from services.availability.store import Store
from services.booking.store import BookingStore
from services.cli import SERVICES
from services.common.auth import KeyStore
from services.common.clock import Clock
from services.common.devstack import ROOT, process_commands
from services.common.redis import free_port
from services.common.vault import Vault
from tests.e2e.partner import CUSTOMER, INTAKE, book, bookings_on, direct, offered, slots
from tests.e2e.stack import load_settings_from, london_instant
from tests.helpers import wait_for


def live_reservations(stack, day: str) -> list:
    """Availability's ledger for the day: what really blocks therapists and rooms."""
    start = int(datetime.fromisoformat(london_instant(day, "00:00")).timestamp())
    ledger = Store(stack.redis(), "london").reservations({"camden": (start, start + 86400)})
    now = int(datetime.now().timestamp())
    return [r for r in ledger if r.is_live(now) and start <= r.start < start + 86400]


def test_search_hold_book_read_cancel_and_the_slot_is_free_again(stack):
    day = stack.day()
    slot = slots(stack, day)[0]
    hold = stack.post("/v1/holds", key="partner", json={
        "studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": slot["start"],
        "therapist": slot["therapists"][0]})
    assert hold.status_code == 201, hold.text
    assert slot["start"] not in offered(stack, day)
    created = book(stack, {"hold": hold.json()["id"], "customer": CUSTOMER, "intake": INTAKE})
    assert created.status_code == 201, created.text
    booking = created.json()
    assert (booking["status"], booking["price"]) == ("confirmed", slot["price"])
    assert stack.get(f"/v1/bookings/{booking['id']}", key="partner").json() == booking
    cancelled = stack.post(f"/v1/bookings/{booking['id']}/cancel", key="partner", json={})
    assert cancelled.json()["status"] == "cancelled"
    assert slot["start"] in offered(stack, day)


def test_a_pregnant_client_is_refused_ashiatsu_and_offered_alternatives(stack):
    day = stack.day()
    start = slots(stack, day)[0]["start"]
    response = book(stack, direct(start, intake={**INTAKE, "pregnant": True}))
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["reasons"]) == ("contraindicated", ["pregnancy"])
    assert "relaxation" in problem["alternatives"]
    assert start in offered(stack, day)


def test_a_replayed_idempotency_key_answers_the_same_booking_and_books_once(stack):
    day = stack.day()
    body = direct(slots(stack, day)[0]["start"])
    first, again = book(stack, body, key="e2e-replay"), book(stack, body, key="e2e-replay")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert [b["id"] for b in bookings_on(stack, day)] == [first.json()["id"]]


def test_rescheduling_into_a_taken_time_answers_409_and_changes_nothing(stack):
    day = stack.day()
    first, taken = slots(stack, day)[0]["start"], slots(stack, day)[-1]["start"]
    assert book(stack, direct(taken)).status_code == 201
    booking = book(stack, direct(first)).json()
    response = stack.post(f"/v1/bookings/{booking['id']}/reschedule", key="partner",
                          json={"start": taken})
    assert response.status_code == 409
    assert response.json()["code"] == "slot_unavailable"
    assert stack.get(f"/v1/bookings/{booking['id']}", key="partner").json() == booking
    assert first not in offered(stack, day)


def test_another_partner_cannot_read_or_cancel_the_booking(stack):
    booking = book(stack, direct(slots(stack, stack.day())[0]["start"])).json()
    partner_b = KeyStore(stack.redis(), "london").create("partner b", "partner",
                                                        ["islington"])
    path = f"/v1/bookings/{booking['id']}"
    assert stack.get(path, key=partner_b).status_code == 404
    assert stack.post(f"{path}/cancel", key=partner_b, json={}).status_code == 404
    assert stack.get(path, key="partner").json()["status"] == "confirmed"


@pytest.fixture(scope="module")
def bad_input_day(stack) -> str:
    return stack.day()


@pytest.mark.parametrize("send, status", [
    (lambda start: {"data": "{not json"}, 400),
    (lambda start: {"json": direct(start, colour="red")}, 422),
    (lambda start: {"json": direct("next tuesday")}, 422),
    (lambda start: {"json": direct(start, customer={**CUSTOMER, "name": "x" * 70_000})},
     413),
])
def test_bad_input_is_a_4xx_problem_and_books_nothing(stack, bad_input_day, send, status):
    start = london_instant(bad_input_day, "10:00")
    response = stack.post("/v1/bookings", key="partner", headers={
        "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"},
        **send(start))
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert bookings_on(stack, bad_input_day) == []


def burst(base_url: str, api_key: str, bodies: list[dict], clients: int = 64,
          kill=None) -> list[int]:
    """POST the bodies from `clients` concurrent clients; 0 for a request that got no
    answer. `kill(futures)` runs while the burst is in flight."""
    def post(body: dict) -> int:
        try:
            return requests.post(f"{base_url}/v1/bookings", json=body, timeout=30, headers={
                "Authorization": f"Bearer {api_key}",
                "Idempotency-Key": uuid.uuid4().hex}).status_code
        except requests.RequestException:
            return 0

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(post, body) for body in bodies]
        if kill:
            kill(futures)
        return [future.result() for future in futures]


def test_64_clients_racing_for_one_slot_book_it_exactly_once(stack):
    day = stack.day()
    slot = slots(stack, day)[0]
    body = direct(slot["start"], therapist=slot["therapists"][0])
    statuses = burst(stack.base_url, stack.partner_key, [body] * 64)
    assert sorted(statuses) == [201] + [409] * 63
    assert len(bookings_on(stack, day)) == 1
    assert len(live_reservations(stack, day)) == 1


@contextmanager
def own_booking_web(stack, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A booking web process of this test's own (the stack's keeps serving the
    gateway), with a short hold TTL and RPC timeout so its debris clears quickly."""
    port = free_port()
    env = {**stack.env, "SPA_BOOKING_PORT": str(port), **env}
    command = process_commands(load_settings_from(env), SERVICES)["booking-web"]
    process = subprocess.Popen(command.split(), env=env, cwd=ROOT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base_url), timeout_s=30, what="booking web to start")
        yield base_url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def test_a_booking_process_killed_mid_burst_leaves_bookings_and_ledger_agreeing(stack):
    day = stack.day()
    starts = [slot["start"] for slot in slots(stack, day)][:16]
    bodies = [direct(starts[i % len(starts)]) for i in range(256)]  # 4 rounds: time to kill

    sagas = BookingStore(stack.redis(), "london", 0, Clock(), Vault(stack.env["SPA_DATA_KEY"]))
    with own_booking_web(stack, SPA_HOLD_TTL_S="2", SPA_RPC_TIMEOUT_S="1") as (url, web):
        def kill_mid_saga(futures):
            """As soon as a booking is between its hold and its confirm, or (on a busy
            machine that hides that moment) once the first answer is back."""
            def moment() -> bool:
                in_saga = sagas.redis.zcard(sagas.k("pending"))
                return in_saga or any(future.done() for future in futures)

            wait_for(moment, interval_s=0.001, timeout_s=30, what="bookings in flight")
            os.killpg(web.pid, signal.SIGKILL)

        statuses = burst(url, stack.partner_key, bodies, kill=kill_mid_saga)
    assert 0 in statuses  # killed with requests in flight

    def agreeing() -> bool:
        return confirmed_ids(stack, day) == reserved_ids(stack, day)

    # Holds expire after 2 s; the stack's booking worker undoes dead sagas after 3 s.
    try:
        wait_for(agreeing, timeout_s=45, interval_s=0.25,
                 what="every confirmed booking to own a reservation and no other to remain")
    except AssertionError:
        assert confirmed_ids(stack, day) == reserved_ids(stack, day), stack.data_dir.parent
        raise


def confirmed_ids(stack, day: str) -> list[str]:
    return sorted(b["id"] for b in bookings_on(stack, day, status="confirmed"))


def reserved_ids(stack, day: str) -> list[str]:
    return sorted(r.booking_id for r in live_reservations(stack, day))
