"""Partner accounts, clients and their privacy through the gateway, every process real:
a partner made with the CLI, a client on record booked without answering the intake
again, export, and erasure down to the last key in Redis and the notification log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.booking.clients import ClientStore
from services.booking.domain import Intake
from services.common.clock import Clock
from services.common.vault import Vault
from tests.e2e.partner import book, slots
from tests.helpers import WebhookReceiver, wait_for

ZELDA = {"name": "Zelda Quartermaine", "email": "zelda.quartermaine@example.com",
         "phone": "+44 7700 900461"}
ANSWERS = {"pregnant": False, "recent_surgery": False, "recent_injury": False}


@pytest.fixture(scope="module")
def zen(stack) -> dict:
    """A partner of camden, made as an operator makes one."""
    made = json.loads(stack.spa("partners", "create", "Zen Spa", "--studio", "camden",
                                "--json"))
    assert made["id"].startswith("pt_") and made["studios"] == ["camden"] and made["keys"] == 1
    assert made["api_key"].startswith("spa_partner_")
    return made


@pytest.fixture(scope="module")
def zen_hooks(stack, zen):
    receiving = WebhookReceiver().start()
    hook = stack.post("/v1/webhooks", key=zen["api_key"], json={
        "url": receiving.url, "events": ["booking.created", "booking.cancelled"]})
    assert hook.status_code == 201, hook.text
    yield receiving
    receiving.stop()


def new_client(stack, partner: dict, email: str, person: dict | None = None) -> dict:
    body = {**(person or {"name": "Grace Hopper"}), "email": email}
    response = stack.post("/v1/clients", key=partner["api_key"], json=body)
    assert response.status_code == 201, response.text
    return response.json()


def by_client(client_id: str, start: str) -> dict:
    return {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            "client": client_id}


def test_the_cli_lists_the_partner_and_its_key_works(stack, zen):
    listed = json.loads(stack.spa("partners", "list", "--json"))
    assert {"id": zen["id"], "name": "Zen Spa", "studios": ["camden"], "keys": 1} in listed
    assert stack.get("/v1/studios", key=zen["api_key"]).status_code == 200


def test_a_rotated_key_keeps_the_clients_and_a_revoked_partner_is_shut_out(stack):
    made = json.loads(stack.spa("partners", "create", "Rotating Spa", "--studio", "camden",
                                "--json"))
    first = made["api_key"]
    client = stack.post("/v1/clients", key=first, json={"name": "Ada", "email": "r@example.com"})
    second = stack.spa("partners", "keys", "add", made["id"]).strip()
    assert stack.spa("partners", "keys", "revoke", first).strip() == "revoked"
    assert stack.get("/v1/studios", key=first).status_code == 401
    assert stack.get(f"/v1/clients/{client.json()['id']}", key=second).status_code == 200
    assert stack.spa("partners", "revoke", made["id"]).strip() == "revoked"
    response = stack.get(f"/v1/clients/{client.json()['id']}", key=second)
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_a_client_with_intake_on_record_is_booked_by_id_and_others_see_nothing(stack, zen):
    client = new_client(stack, zen, "on.record@example.com")
    intake = stack.post(f"/v1/clients/{client['id']}/intake", key=zen["api_key"],
                        json=ANSWERS)
    assert intake.status_code == 201, intake.text
    start = slots(stack, stack.workday())[0]["start"]
    booking = book(stack, by_client(client["id"], start), api_key=zen["api_key"])
    assert booking.status_code == 201, booking.text
    assert booking.json()["client"] == client["id"]
    for path in (f"/v1/clients/{client['id']}", f"/v1/clients/{client['id']}/bookings"):
        assert stack.get(path, key="partner").status_code == 404  # the dev partner's key
    history = stack.get(f"/v1/clients/{client['id']}/bookings", key=zen["api_key"]).json()
    assert [b["id"] for b in history["items"]] == [booking.json()["id"]]


def test_an_expired_intake_is_refused_with_its_reason(stack, zen):
    client = new_client(stack, zen, "expired@example.com")
    long_ago = datetime.now(UTC) - timedelta(days=31)  # as if recorded a month ago
    clients = ClientStore(stack.redis(), "london", Clock(), Vault(stack.env["SPA_DATA_KEY"]))
    clients.record_intake(client["id"], Intake(**ANSWERS), long_ago)
    start = slots(stack, stack.workday())[0]["start"]
    response = book(stack, by_client(client["id"], start), api_key=zen["api_key"])
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["reason"]) == ("intake_required",
                                                                     "expired")


def test_a_pregnancy_on_record_is_contraindicated_with_alternatives(stack, zen):
    client = new_client(stack, zen, "expecting@example.com")
    stack.post(f"/v1/clients/{client['id']}/intake", key=zen["api_key"],
               json={**ANSWERS, "pregnant": True})
    start = slots(stack, stack.workday())[0]["start"]
    response = book(stack, by_client(client["id"], start), api_key=zen["api_key"])
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "contraindicated"
    assert response.json()["alternatives"] == ["relaxation"]


def test_export_then_erasure_leaves_no_trace_and_no_reminder(stack, zen, zen_hooks):
    client = new_client(stack, zen, ZELDA["email"], ZELDA)
    stack.post(f"/v1/clients/{client['id']}/intake", key=zen["api_key"],
               json={**ANSWERS, "notes": "Zelda's old ankle sprain, healed"})
    start = slots(stack, stack.workday())[0]["start"]
    booking = book(stack, by_client(client["id"], start), api_key=zen["api_key"]).json()
    email = wait_for(lambda: emails_to(stack, ZELDA["email"]), timeout_s=30,
                     what="the confirmation email")
    assert email[0]["Subject"].startswith("Booked: ")

    exported = wait_for(lambda: export_with_email(stack, zen, client["id"]), timeout_s=30,
                        what="the confirmation in the export")
    assert exported["client"]["email"] == ZELDA["email"]
    assert [b["id"] for b in exported["bookings"]] == [booking["id"]]
    assert exported["intake"][0]["notes"] == "Zelda's old ankle sprain, healed"
    kinds = {(n["channel"], n["kind"]) for n in exported["notifications"]}
    assert {("email", "confirmation"), ("email", "reminder"),
            ("webhook", "booking.created")} <= kinds

    refused = stack.request("DELETE", f"/v1/clients/{client['id']}", key=zen["api_key"])
    assert refused.status_code == 409 and refused.json()["bookings"] == [booking["id"]]
    erased = stack.request("DELETE", f"/v1/clients/{client['id']}?cancel_future=true",
                           key=zen["api_key"])
    assert erased.status_code == 204, erased.text

    read = stack.get(f"/v1/bookings/{booking['id']}", key=zen["api_key"]).json()
    assert read["customer"] == {"name": "erased", "email": "erased", "phone": None}
    assert read["status"] == "cancelled" and read["price"] == booking["price"]
    assert stack.get(f"/v1/clients/{client['id']}", key=zen["api_key"]).status_code == 404

    personal = [ZELDA["name"], ZELDA["email"], "7700 900461", "Zelda", "ankle"]
    try:
        wait_for(lambda: not traces(stack, personal), timeout_s=30,
                 what="every trace of the client to leave Redis")
    except AssertionError:
        raise AssertionError(f"still in Redis: {traces(stack, personal)}") from None
    log = stack.get("/v1/notifications", key=zen["api_key"],
                    params={"booking": booking["id"]}).json()["items"]
    assert not [n for n in log if n["kind"] in ("reminder", "last_meal")
                and n["status"] == "pending"]
    assert not [m for m in emails_to(stack, ZELDA["email"])
                if m["Subject"].startswith(("Reminder", "Time for your last meal"))]


def emails_to(stack, address: str) -> list:
    return [m for m in stack.smtp.messages if m["To"] == address]


def export_with_email(stack, partner: dict, client_id: str) -> dict | None:
    response = stack.get(f"/v1/clients/{client_id}/export", key=partner["api_key"])
    assert response.status_code == 200, response.text
    sent = [n for n in response.json()["notifications"]
            if n["kind"] == "confirmation" and n["status"] == "sent"]
    return response.json() if sent else None


def traces(stack, needles: list[str]) -> list[tuple[str, str]]:
    """(key, needle) for every key or value in Redis that holds a needle."""
    redis = stack.redis()
    found = []
    for name in redis.scan_iter(count=1000):
        kind = redis.type(name)
        value = {"string": redis.get, "hash": redis.hgetall,
                 "list": lambda n: redis.lrange(n, 0, -1),
                 "set": redis.smembers,
                 "zset": lambda n: redis.zrange(n, 0, -1)}.get(kind, lambda n: "")(name)
        text = name + json.dumps(value, default=sorted)
        found += [(name, needle) for needle in needles if needle in text]
    return found
