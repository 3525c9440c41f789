"""The routes as partners and admins use them: scope, validation, redelivery."""

from __future__ import annotations

import pytest

from services.notifications.app import create_app
from tests.helpers import wait_for
from tests.integration.notifications.support import Api, publish
from tests.unit.notifications.samples import booking_payload, envelope


def booked(ctx, api, studio: str = "camden") -> str:
    payload = booking_payload(studio=studio)
    publish(ctx, envelope("booking.created", payload))
    booking = payload["booking"]["id"]
    api.wait_for_entry(booking, "confirmation", "sent")
    return booking


def test_a_partner_sees_the_log_of_its_own_studios_bookings_only(ctx, worker, api):
    camden, islington = booked(ctx, api, "camden"), booked(ctx, api, "islington")
    assert {e["kind"] for e in api.log(camden, as_="partner")} >= {"confirmation"}
    assert api.log(islington, as_="partner") == []
    [theirs] = [e for e in api.log(islington) if e["kind"] == "confirmation"]
    for method, path in (("GET", f"/v1/notifications/{theirs['id']}"),
                         ("POST", f"/v1/notifications/{theirs['id']}/redeliver")):
        response = api.call(method, path, as_="partner")
        assert response.status_code == 404 and response.json["code"] == "not_found"


def test_an_unknown_booking_has_an_empty_log(api):
    assert api.log("bk_nothing") == []


@pytest.mark.parametrize("query", ["", "?booking=", "?booking=b1&status=sent"])
def test_the_log_query_is_validated(api, query):
    response = api.call("GET", f"/v1/notifications{query}")
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"


def test_redelivering_a_webhook_sends_it_again_with_the_same_webhook_id(
        ctx, worker, api, webhook_receiver):
    api.add_webhook(webhook_receiver.url, as_="partner")
    booking = booked(ctx, api)
    entry = api.wait_for_entry(booking, "booking.created", "sent")
    response = api.call("POST", f"/v1/notifications/{entry['id']}/redeliver", as_="partner")
    assert response.status_code == 202 and response.json["status"] == "pending"
    wait_for(lambda: len(webhook_receiver.received) == 2, what="the redelivery")
    assert len({r.headers["webhook-id"] for r in webhook_receiver.received}) == 1
    again = api.wait_for_entry(booking, "booking.created", "sent")
    assert again["attempts"] == 2


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://partner.example/x", "events": ["booking.created"]}, "url"),
    ({"url": "https://partner.example/x", "events": []}, "events"),
    ({"url": "https://partner.example/x", "events": ["booking.eaten"]}, "events"),
    ({"url": "https://partner.example/x", "events": ["booking.created"], "x": 1}, "x"),
])
def test_a_bad_registration_is_a_422_naming_the_field(api, body, field):
    response = api.call("POST", "/v1/webhooks", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_loopback_urls_are_refused_unless_the_admin_setting_allows_them(
        notifications_settings, api_keys):
    app = create_app({"redis_url": notifications_settings.redis_url,
                      "broker_url": notifications_settings.broker_url,
                      "webhook_allow_private": False})
    strict = Api(app.test_client(), api_keys)
    response = strict.call("POST", "/v1/webhooks", json={
        "url": "http://127.0.0.1:8080/hooks", "events": ["booking.created"]})
    assert response.status_code == 422
    assert response.json["errors"] == {"url": ["loopback and private addresses are not allowed"]}


def test_each_partner_lists_and_deletes_only_its_own_endpoints(api):
    mine = api.add_webhook("http://127.0.0.1:9/mine", as_="partner")
    api.add_webhook("http://127.0.0.1:9/theirs", as_="other_partner")
    listed = api.call("GET", "/v1/webhooks", as_="partner").json["items"]
    assert [w["id"] for w in listed] == [mine["id"]] and listed[0]["studios"] == ["camden"]
    assert api.call("DELETE", f"/v1/webhooks/{mine['id']}",
                    as_="other_partner").status_code == 404
    assert api.call("DELETE", f"/v1/webhooks/{mine['id']}", as_="partner").status_code == 204
    assert api.call("GET", "/v1/webhooks", as_="partner").json["items"] == []


def test_the_openapi_document_describes_every_route(api):
    document = api.client.get("/v1/openapi.json").json
    assert {"/v1/webhooks", "/v1/webhooks/{endpoint_id}", "/v1/notifications",
            "/v1/notifications/{delivery_id}",
            "/v1/notifications/{delivery_id}/redeliver"} <= set(document["paths"])
    assert {"WebhookIn", "NewWebhook", "NotificationList"} <= set(
        document["components"]["schemas"])
