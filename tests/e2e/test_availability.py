"""Availability as a partner meets it through the gateway, and as booking reaches it:
the real worker serving RPC on the stack's broker."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.common import bus
from services.common.rpc import RpcClient
from tests.e2e.stack import london_instant


@pytest.fixture(scope="module")
def day(stack) -> str:
    """A Tuesday of this module's own: maya starts at 08:00, jonas ends at 21:00."""
    return stack.day(weekdays={1})


def search(day: str, **changes) -> str:
    params = {"treatment": "ashiatsu", "duration": "60", "from": day, "to": day,
              "studio": "camden", **changes}
    return "/v1/slots?" + "&".join(f"{k}={v}" for k, v in params.items())


def starts(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["start"] for item in response.json()["items"]]


def test_a_partner_finds_ashiatsu_slots_at_camden(stack, day):
    found = starts(stack.get(search(day), key="partner"))
    assert found[0] == london_instant(day, "08:00") and found == sorted(found)


def test_a_partner_sees_its_studios_only_and_others_are_404(stack, day):
    mine = stack.get("/v1/studios", key="partner").json()["items"]
    assert [studio["id"] for studio in mine] == ["camden"]
    everyone = stack.get("/v1/studios").json()["items"]
    assert {studio["id"] for studio in everyone} == {"camden", "islington"}
    elsewhere = stack.get(search(day, studio="islington"), key="partner")
    assert elsewhere.status_code == 404
    assert elsewhere.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("changes", "status"), [
    ({"treatment": "reiki"}, 404),
    ({"duration": "45"}, 422),
    ({"to": "+40 days"}, 422),
    ({"from": "yesterday"}, 422),
])
def test_bad_searches_are_problems_not_errors(stack, day, changes, status):
    if changes.get("to") == "+40 days":
        changes = {"to": (date.fromisoformat(day) + timedelta(days=40)).isoformat()}
    response = stack.get(search(day, **changes), key="partner")
    assert response.status_code == status
    assert response.json()["code"] in ("not_found", "validation_error")


def test_a_hold_over_rpc_takes_the_slot_until_released(stack, day):
    start = london_instant(day, "10:00")
    with bus.broker_connection(stack.broker_url) as connection:
        client = RpcClient(connection, "availability", timeout_s=10)
        held = client.call("hold", {"studio": "camden", "treatment": "ashiatsu",
                                    "duration": 60, "start": start, "therapist": "maya"})
        assert start not in starts(stack.get(search(day, therapist="maya")))
        client.call("release", {"hold_id": held["hold_id"]})
    assert start in starts(stack.get(search(day, therapist="maya")))


def test_treatments_are_listed_for_partners(stack):
    items = stack.get("/v1/treatments", key="partner").json()["items"]
    assert {"ashiatsu", "relaxation", "deep-tissue"} <= {t["id"] for t in items}
