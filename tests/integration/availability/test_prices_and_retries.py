"""Money an admin writes is taken exactly or refused (never rounded, never absurd), and a
retried hold answers with the prices and policy it was taken at, whatever the catalog
says since."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from services.availability.domain import CancellationPolicy
from services.availability.handlers import catalog_admin
from tests.integration.availability.support import hold_params

ADDON = {"name": "Hot stones", "extra_min": 10, "price": "12.00",
         "requires": {"equipment": ["massage_table"]}}


def relaxation_body(client, as_admin, **changes) -> dict:
    """The relaxation massage as its PUT body, with `changes`."""
    [treatment] = [t for t in client.get("/v1/treatments", headers=as_admin).json["items"]
                   if t["id"] == "relaxation"]
    body = {k: v for k, v in treatment.items() if k not in ("id", "addons", "booking_windows")}
    body["prices"] = {d: p["amount"] for d, p in body["prices"].items()}
    return {**body, "addons": [a["id"] for a in treatment["addons"]], **changes}


@pytest.mark.parametrize(("amount", "says"), [
    ("99999999999999999999.00", "must not be more than 1,000,000.00"),
    ("1000000.01", "must not be more than 1,000,000.00"),
    ("1.005", "at most 2 decimal places: '1.005' would be rounded"),
    ("80.001", "at most 2 decimal places"),
])
def test_an_absurd_or_too_precise_price_is_422_and_nothing_is_written(client, as_admin, ctx,
                                                                       amount, says):
    before = client.get("/v1/treatments", headers=as_admin).json
    body = relaxation_body(client, as_admin)
    response = client.put("/v1/treatments/relaxation", headers=as_admin,
                          json={**body, "prices": {**body["prices"], "60": amount}})
    assert response.status_code == 422, response.json
    assert any(says in message for message in response.json["errors"]["prices"]["60"]["value"])
    addon = client.put("/v1/addons/hot-stones", json={**ADDON, "price": amount}, headers=as_admin)
    assert addon.status_code == 422, addon.json
    assert any(says in message for message in addon.json["errors"]["price"])
    assert client.get("/v1/treatments", headers=as_admin).json == before
    assert "hot-stones" not in ctx.catalog().addons


def test_a_price_at_the_bound_with_trailing_zeros_is_taken_exactly(client, as_admin):
    body = relaxation_body(client, as_admin)
    response = client.put("/v1/treatments/relaxation", headers=as_admin,
                          json={**body, "prices": {**body["prices"], "60": "1000000.000"}})
    assert response.status_code == 200, response.json
    assert response.json["prices"]["60"] == "1000000.00"


def test_a_retried_hold_answers_with_the_prices_and_policy_it_was_taken_at(rpc, ctx):
    params = hold_params(addons=["resistance-stretching", "aromatherapy-oil"], hold_id="h-retry")
    first = rpc["hold"](params)
    assert first["price_breakdown"]["treatment"]["amount"] == "95.00"
    catalog = ctx.catalog()
    catalog_admin.put_entry(ctx, "addons", replace(catalog.addons["aromatherapy-oil"],
                                                   price=Decimal("9.50")), "aromatherapy-oil")
    catalog_admin.put_entry(ctx, "studios", replace(
        catalog.studios["camden"], cancellation=CancellationPolicy(2, Decimal(0), Decimal(0))),
        "camden")
    assert ctx.catalog().addons["aromatherapy-oil"].price == Decimal("9.50")  # it changed
    assert rpc["hold"](params) == first
    assert rpc["hold"]({**params, "hold_id": "h-new", "start": "2027-01-05T13:00:00+00:00"})[
        "cancellation"]["free_until_h"] == 2  # a new hold has the new policy


def test_a_retried_reserve_answers_as_the_first_one_did(rpc, ctx):
    params = hold_params(addons=["aromatherapy-oil"], hold_id="h-res", booking_id="bk-res")
    first = rpc["reserve"](params)
    catalog = ctx.catalog()
    catalog_admin.put_entry(ctx, "addons", replace(catalog.addons["aromatherapy-oil"],
                                                   price=Decimal("9.50")), "aromatherapy-oil")
    again = rpc["reserve"](params)
    assert {k: v for k, v in again.items() if k != "catalog_version"} == {
        k: v for k, v in first.items() if k != "catalog_version"}
    assert again["price_breakdown"]["addons"][0]["price"]["amount"] == "8.00"


def test_the_openapi_document_shows_no_default_for_the_add_ons_of_a_search(client):
    document = client.get("/v1/openapi.json").json
    [addons] = [p for p in document["paths"]["/v1/slots"]["get"]["parameters"]
                if p["name"] == "addons"]
    assert "default" not in addons["schema"] and "default" not in addons
