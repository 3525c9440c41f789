"""Availability as a partner meets it through the gateway, and as booking reaches it:
the real worker serving RPC on the stack's broker."""

from __future__ import annotations

import pytest

from services.common import bus
from services.common.rpc import RpcClient

DAY = "2028-02-01"  # a Tuesday no other test books
SEARCH = f"/v1/slots?treatment=ashiatsu&duration=60&from={DAY}&to={DAY}&studio=camden"


def starts(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["start"] for item in response.json()["items"]]


def test_a_partner_finds_ashiatsu_slots_at_camden(stack):
    found = starts(stack.get(SEARCH, key="partner"))
    assert found[0] == f"{DAY}T08:00:00+00:00" and found == sorted(found)


def test_a_partner_sees_its_studios_only_and_others_are_404(stack):
    mine = stack.get("/v1/studios", key="partner").json()["items"]
    assert [studio["id"] for studio in mine] == ["camden"]
    everyone = stack.get("/v1/studios").json()["items"]
    assert {studio["id"] for studio in everyone} == {"camden", "islington"}
    elsewhere = stack.get(SEARCH.replace("camden", "islington"), key="partner")
    assert elsewhere.status_code == 404
    assert elsewhere.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("query", "status"), [
    (SEARCH.replace("ashiatsu", "reiki"), 404),
    (SEARCH.replace("duration=60", "duration=45"), 422),
    (SEARCH.replace(f"to={DAY}", "to=2028-03-15"), 422),
    (SEARCH.replace(f"from={DAY}", "from=yesterday"), 422),
])
def test_bad_searches_are_problems_not_errors(stack, query, status):
    response = stack.get(query, key="partner")
    assert response.status_code == status
    assert response.json()["code"] in ("not_found", "validation_error")


def test_a_hold_over_rpc_takes_the_slot_until_released(stack):
    start = f"{DAY}T10:00:00+00:00"
    with bus.broker_connection(stack.redis_url) as connection:
        client = RpcClient(connection, "availability", timeout_s=10)
        held = client.call("hold", {"studio": "camden", "treatment": "ashiatsu",
                                    "duration": 60, "start": start, "therapist": "maya"})
        assert start not in starts(stack.get(SEARCH + "&therapist=maya"))
        client.call("release", {"hold_id": held["hold_id"]})
    assert start in starts(stack.get(SEARCH + "&therapist=maya"))


def test_treatments_are_listed_for_partners(stack):
    items = stack.get("/v1/treatments", key="partner").json()["items"]
    assert {"ashiatsu", "relaxation", "deep-tissue"} <= {t["id"] for t in items}
