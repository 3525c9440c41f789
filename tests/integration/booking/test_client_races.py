"""Clients under concurrency and failure: erasure racing a change, a booking or a key
rotation; partners sharing a studio; odd ids. The race is forced at one point by
running the competing request there (the request is real; only its timing is set)."""

from __future__ import annotations

import threading

import pytest

from services.booking.clients import ClientStore
from services.common.auth import KeyStore
from services.common.errors import SlotUnavailable
from services.common.vault import Vault, new_key
from tests.integration.booking.support import INTAKE, Api, assert_problem, direct_booking
from tests.integration.booking.test_clients import (
    ADA,
    assert_no_trace,
    booked,
    by_client,
    new_client,
    patch,
    record_intake,
)

PII = ["Ada Lovelace", "ada@example.com", "+44 20 7946 0000"]


@pytest.fixture
def partner(app, api_keys, availability) -> Api:
    return Api(app, api_keys["partner"])


@pytest.fixture
def rival(app, redis_client, settings, availability) -> Api:
    """A second partner account selling the same studio (camden)."""
    _, key = KeyStore(redis_client, settings.city).create_partner("rival", ["camden"])
    return Api(app, key)


def test_a_failed_booking_of_the_client_is_scrubbed_by_erasure(partner, app, redis_client,
                                                               monkeypatch):
    ctx = app.extensions["spa"]
    client = new_client(partner)
    record_intake(partner, client["id"])

    def refuse(*args, **kwargs):
        raise SlotUnavailable("taken meanwhile")
    monkeypatch.setattr(ctx.availability, "reserve", refuse)
    response = partner.book(by_client(client["id"]))
    assert response.status_code == 409
    monkeypatch.undo()
    assert partner.delete(f"/v1/clients/{client['id']}").status_code == 204
    assert_no_trace(redis_client, PII, but_in=ctx.store.k("outbox"))


def test_another_partner_of_the_same_studio_cannot_see_or_cancel_the_booking(partner,
                                                                            rival):
    client = new_client(partner)
    record_intake(partner, client["id"])
    booking = booked(partner, by_client(client["id"]))
    seen = rival.get(f"/v1/bookings/{booking['id']}")
    listed = rival.get("/v1/bookings").get_json()["items"]
    cancelled = rival.post(f"/v1/bookings/{booking['id']}/cancel", json={})
    assert_problem(rival.get(f"/v1/clients/{client['id']}"), 404, "not_found")  # ok
    assert (seen.status_code, [b["customer"] for b in listed], cancelled.status_code) == \
        (404, [], 404), (seen.get_json(), listed, cancelled.get_json())


def test_a_patch_in_flight_does_not_resurrect_an_erased_client(partner, app, redis_client,
                                                              monkeypatch):
    ctx = app.extensions["spa"]
    client = new_client(partner)
    real_save = ClientStore.save

    def save_after_erasure(self, before, after):
        # the DELETE request lands between PATCH's read and its write
        assert partner.delete(f"/v1/clients/{client['id']}").status_code == 204
        return real_save(self, before, after)
    monkeypatch.setattr(ClientStore, "save", save_after_erasure)
    patch(partner, f"/v1/clients/{client['id']}", {"preferences": {"pressure": "deep"}})
    monkeypatch.undo()
    assert partner.get(f"/v1/clients/{client['id']}").status_code == 404
    assert_no_trace(redis_client, PII, but_in=ctx.store.k("outbox"))


def test_a_booking_in_flight_during_erasure_is_erased_too(partner, app, redis_client,
                                                         monkeypatch):
    ctx = app.extensions["spa"]
    client = new_client(partner)
    record_intake(partner, client["id"])
    real_describe = ctx.availability.describe
    erased = []

    def describe_then_erase(*args, **kwargs):
        if not erased:
            erased.append(partner.delete(f"/v1/clients/{client['id']}").status_code)
        return real_describe(*args, **kwargs)
    monkeypatch.setattr(ctx.availability, "describe", describe_then_erase)
    response = partner.book(by_client(client["id"], intake=INTAKE))
    monkeypatch.undo()
    assert erased == [204]
    body = response.get_json()
    problems = []
    if response.status_code == 201 and body["customer"]["email"] != "erased":
        problems.append(("booking answered with PII", body["customer"]))
    stored = redis_client.get(ctx.store.k("booking", body["id"])) if "id" in body else ""
    if "ada@example.com" in (stored or ""):
        problems.append("booking stored with the email after erasure")
    intake = redis_client.zcard(ctx.clients.k("client", client["id"], "intake"))
    if intake:
        problems.append(f"{intake} sealed intake record(s) written for the erased client")
    history = partner.get(f"/v1/clients/{client['id']}/bookings")
    problems.append(("history of erased client", history.status_code))
    assert problems == [("history of erased client", 404)], problems


def test_two_email_changes_at_once_leave_one_index_entry(partner, app, monkeypatch):
    client = new_client(partner)
    real_save = ClientStore.save
    nested = []

    def interleave(self, before, after):
        if not nested:
            nested.append(patch(partner, f"/v1/clients/{client['id']}",
                                {"email": "second@example.com"}).status_code)
        return real_save(self, before, after)
    monkeypatch.setattr(ClientStore, "save", interleave)
    patch(partner, f"/v1/clients/{client['id']}", {"email": "first@example.com"})
    monkeypatch.undo()
    now = partner.get(f"/v1/clients/{client['id']}").get_json()["email"]
    stale = "second@example.com" if now == "first@example.com" else "first@example.com"
    found = partner.get("/v1/clients", query_string={"email": stale}).get_json()["items"]
    assert found == [], (now, found)


@pytest.mark.parametrize("suffix", [":intake", ":bookings"])
def test_a_client_id_with_a_colon_is_a_404_not_a_500(partner, suffix):
    client = new_client(partner)
    record_intake(partner, client["id"])
    booked(partner, by_client(client["id"]))
    for method in ("get", "delete"):
        response = getattr(partner.client, method)(f"/v1/clients/{client['id']}{suffix}",
                                                   headers=partner.headers)
        assert response.status_code == 404, (method, response.status_code,
                                             response.get_data(as_text=True)[:200])
        assert response.content_type == "application/problem+json"


def test_rotating_the_key_while_a_client_is_erased_keeps_the_erasure(partner, app, settings,
                                                                     redis_client, monkeypatch):
    ctx = app.extensions["spa"]
    client = new_client(partner, preferences={"notes": "likes it quiet"})
    record_intake(partner, client["id"], notes="mild asthma")
    rotating = Vault(f"{new_key()},{settings.data_key}")
    real_reseal = rotating.reseal
    done = []

    def reseal_during_erasure(token):
        if not done:
            done.append(partner.delete(f"/v1/clients/{client['id']}").status_code)
        return real_reseal(token)
    monkeypatch.setattr(rotating, "reseal", reseal_during_erasure)
    ctx.clients.vault = rotating
    ctx.clients.reseal_all()
    monkeypatch.undo()
    assert done == [204]
    left = {"profile back": partner.get(f"/v1/clients/{client['id']}").status_code == 200,
            "intake back": redis_client.zcard(ctx.clients.k("client", client["id"], "intake")),
            "name in redis": "Ada Lovelace" in (redis_client.get(
                ctx.clients.k("client", client["id"])) or "")}
    assert left == {"profile back": False, "intake back": 0, "name in redis": False}, left


def test_eight_creates_with_one_email_at_once_make_one_client(partner, app):
    key = partner.headers["Authorization"].split()[1]
    answers: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        api = Api(app, key)
        barrier.wait()
        answers.append(api.post("/v1/clients", json=ADA).get_json()["id"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and len(set(answers)) == 1, answers


def test_rotating_the_key_while_a_booking_is_cancelled_keeps_the_cancel(partner, app,
                                                                       settings,
                                                                       monkeypatch):
    ctx = app.extensions["spa"]
    booking = booked(partner, direct_booking())
    rotating = Vault(f"{new_key()},{settings.data_key}")
    real_reseal, cancels = rotating.reseal, []

    def reseal_during_cancel(token):
        if not cancels:  # the API cancels while rotate-key holds the booking it read
            cancels.append(partner.post(f"/v1/bookings/{booking['id']}/cancel",
                                        json={}).status_code)
        return real_reseal(token)

    monkeypatch.setattr(rotating, "reseal", reseal_during_cancel)
    ctx.store.vault = rotating
    assert ctx.store.reseal_all() == 1
    assert cancels == [200]
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json()["status"] == "cancelled"


def test_two_erasures_at_once_answer_204_with_one_audit_entry(partner, app, clock):
    ctx = app.extensions["spa"]
    client = new_client(partner)
    record_intake(partner, client["id"])
    booked(partner, by_client(client["id"]))
    clock.advance(days=10)  # the booking is past: nothing to cancel
    key = partner.headers["Authorization"].split()[1]
    barrier, answers = threading.Barrier(4), []

    def erase() -> None:
        api = Api(app, key)
        barrier.wait()
        answers.append(api.delete(f"/v1/clients/{client['id']}").status_code)

    threads = [threading.Thread(target=erase) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [204] * 4
    assert len(ctx.clients.erasures()) == 1
    assert len([e for e in ctx.store.due_events() if e.type == "client.erased"]) == 1
