"""Partner endpoints: registration, signed deliveries to a real receiver, retries."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ssrfguard import SSRFGuardError
from standardwebhooks import Webhook

from services.common import bus
from services.common.auth import KeyStore, hash_key
from services.common.service import Infra
from services.notifications import deliveries, handlers
from services.notifications.bootstrap import bootstrap
from services.notifications.webhooks import webhook_session
from tests.helpers import WebhookReceiver, wait_for
from tests.integration.notifications.support import notifications_worker, publish, receiving
from tests.unit.notifications.samples import booking_payload, cancelled, envelope


def received(receiver: WebhookReceiver, count: int = 1) -> list:
    return wait_for(lambda: receiver.received if len(receiver.received) >= count else None,
                    what=f"{count} webhook request(s)")


def test_registering_shows_the_secret_once(api, webhook_receiver):
    created = api.add_webhook(webhook_receiver.url, ["booking.created", "booking.cancelled"])
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["booking.created", "booking.cancelled"]
    [listed] = api.call("GET", "/v1/webhooks").json["items"]
    assert listed["id"] == created["id"] and "secret" not in listed


def test_a_booking_event_is_delivered_signed_with_the_event_id(ctx, worker, api,
                                                              webhook_receiver):
    secret = api.add_webhook(webhook_receiver.url)["secret"]
    sent = envelope("booking.created", booking_payload())
    publish(ctx, sent)
    [request] = received(webhook_receiver)
    body = Webhook(secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == sent.id
    assert body["type"] == "booking.created" and body["timestamp"] == sent.occurred_at
    assert body["data"] == sent.payload["booking"]
    entry = api.wait_for_entry(body["data"]["id"], "booking.created", "sent")
    assert (entry["channel"], entry["attempts"]) == ("webhook", 1)
    assert entry["endpoint"] == api.call("GET", "/v1/webhooks").json["items"][0]["id"]


def test_a_partner_endpoint_receives_only_its_studios_events(ctx, worker, api):
    with receiving() as partners, receiving() as admins:
        api.add_webhook(partners.url, as_="partner")  # camden only
        api.add_webhook(admins.url, as_="admin")
        publish(ctx, envelope("booking.created", booking_payload(studio="islington")),
                envelope("booking.created", booking_payload(studio="camden")))
        assert len(received(admins, 2)) == 2
        [only] = received(partners)
        assert only.json()["data"]["studio"] == "camden"


def test_an_endpoint_receives_only_the_event_types_it_chose(ctx, worker, api,
                                                           webhook_receiver):
    api.add_webhook(webhook_receiver.url, ["booking.cancelled"])
    payload = booking_payload()
    publish(ctx, envelope("booking.created", payload),
            envelope("booking.cancelled", cancelled(payload)))
    [request] = received(webhook_receiver)
    assert request.json()["type"] == "booking.cancelled"


def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(ctx, worker, api):
    with receiving(fail_first=2) as flaky:
        api.add_webhook(flaky.url)
        sent = envelope("booking.created", booking_payload())
        publish(ctx, sent)
        requests = received(flaky, 3)
        booking = sent.payload["booking"]["id"]
        entry = api.wait_for_entry(booking, "booking.created", "sent")
    assert {r.headers["webhook-id"] for r in requests} == {sent.id}
    assert (entry["attempts"], entry["last_error"]) == (3, None)
    assert len(flaky.received) == 3  # delivered once: nothing after the 2xx


def test_a_receiver_that_never_answers_2xx_ends_failed(ctx, worker, api):
    with receiving(fail_first=100) as broken:
        api.add_webhook(broken.url)
        payload = booking_payload()
        publish(ctx, envelope("booking.created", payload))
        entry = api.wait_for_entry(payload["booking"]["id"], "booking.created", "failed")
    assert entry["attempts"] == 3
    assert entry["last_error"] == "the endpoint answered HTTP 500"


def test_a_completed_booking_calls_the_webhook_and_emails_nobody(ctx, worker, api,
                                                                 webhook_receiver):
    api.add_webhook(webhook_receiver.url, ["booking.completed"])
    payload = booking_payload()
    done = {**payload, "booking": {**payload["booking"], "status": "completed"}}
    publish(ctx, envelope("booking.completed", done))
    [request] = received(webhook_receiver)
    assert request.json()["data"]["status"] == "completed"
    entry = api.wait_for_entry(payload["booking"]["id"], "booking.completed", "sent")
    assert [e["kind"] for e in api.log(payload["booking"]["id"])] == [entry["kind"]]


def test_each_settled_delivery_is_announced_on_the_bus(ctx, worker):
    announced = bus.event_queue("test.notification-events", ["notification.*"])
    with ctx.infra.connection() as connection:
        bus.declare(connection, [announced])
        payload = booking_payload()
        publish(ctx, envelope("booking.created", payload))
        with connection.SimpleQueue(announced) as queue:
            message = queue.get(timeout=10)
            message.ack()
    event = bus.envelope_from_body(message.payload)
    assert (event.type, event.source) == ("notification.sent", "notifications")
    assert event.payload["booking"] == payload["booking"]["id"]
    assert (event.payload["channel"], event.payload["kind"]) == ("email", "confirmation")
    assert event.correlation_id == "req-test"


def test_an_endpoint_that_now_points_into_our_network_is_not_called(
        notifications_settings, clock, api, webhook_receiver):
    """Registered while allowed; at send time the address is refused (as after a DNS
    rebinding), so the worker must not call it."""
    api.add_webhook(webhook_receiver.url)
    strict = bootstrap(Infra.from_settings(
        replace(notifications_settings, webhook_allow_private=False)), clock)
    payload = booking_payload()
    with notifications_worker(strict):
        publish(strict, envelope("booking.created", payload))
        entry = api.wait_for_entry(payload["booking"]["id"], "booking.created", "failed")
    assert entry["last_error"].startswith("refused to send:")
    assert "Loopback" in entry["last_error"]
    assert webhook_receiver.received == []


def test_a_name_that_resolves_into_our_network_is_refused_at_connect(webhook_receiver):
    """The check happens where the socket is opened, on the address it connects to."""
    by_name = webhook_receiver.url.replace("127.0.0.1", "localhost")
    with pytest.raises(SSRFGuardError):
        webhook_session(allow_private=False).post(by_name, data=b"{}", timeout=2)
    assert webhook_receiver.received == []
    assert webhook_session(allow_private=True).post(by_name, data=b"{}", timeout=2).ok


def test_endpoints_belong_to_the_key_not_to_its_name(api, redis_client, settings):
    api.keys["namesake"] = KeyStore(redis_client, settings.city).create(
        "camden partner", "partner", ["camden"])  # the same name as the `partner` key
    mine = api.add_webhook("http://127.0.0.1:9/mine", as_="partner")
    assert api.call("GET", "/v1/webhooks", as_="namesake").json["items"] == []
    assert api.call("DELETE", f"/v1/webhooks/{mine['id']}", as_="namesake").status_code == 404


def revoke_partner_of(api_key: str, redis_client, settings) -> None:
    keys = KeyStore(redis_client, settings.city)
    assert keys.revoke_partner(keys.partner_of_keys()[hash_key(api_key)])


def test_a_revoked_partners_endpoint_receives_nothing_more(ctx, worker, api, redis_client,
                                                           settings):
    with receiving() as revoked, receiving() as admins:
        api.add_webhook(revoked.url, as_="partner")
        api.add_webhook(admins.url, as_="admin")
        revoke_partner_of(api.keys["partner"], redis_client, settings)
        payload = booking_payload(studio="camden")
        publish(ctx, envelope("booking.created", payload))
        received(admins)
        api.wait_for_entry(payload["booking"]["id"], "booking.created", "sent")
        assert revoked.received == []
        assert [e["endpoint"] for e in api.log(payload["booking"]["id"])
                if e["channel"] == "webhook"] == [admins_endpoint(api)]


def admins_endpoint(api) -> str:
    [endpoint] = api.call("GET", "/v1/webhooks", as_="admin").json["items"]
    return endpoint["id"]


def test_an_endpoint_outlives_the_key_that_registered_it(ctx, worker, api, redis_client,
                                                         settings):
    """Rotating a partner's key: add a key, revoke the old one; the endpoint is the
    partner's, so deliveries go on and the new key lists and deletes it."""
    keys = KeyStore(redis_client, settings.city)
    with receiving() as partner:
        endpoint = api.add_webhook(partner.url, as_="partner")
        new_key = keys.add_key(keys.partner_of_keys()[hash_key(api.keys["partner"])])
        assert keys.revoke(api.keys["partner"])
        payload = booking_payload(studio="camden")
        publish(ctx, envelope("booking.created", payload))
        received(partner)
        api.keys["partner"] = new_key
        assert [e["id"] for e in api.call("GET", "/v1/webhooks", as_="partner").json["items"]] == \
            [endpoint["id"]]
        assert api.call("DELETE", f"/v1/webhooks/{endpoint['id']}",
                        as_="partner").status_code == 204


def test_retries_stop_once_the_endpoints_partner_is_revoked(ctx, clock, api, redis_client,
                                                            settings):
    with receiving(fail_first=1) as flaky:
        api.add_webhook(flaky.url, as_="partner")
        payload = booking_payload(studio="camden")
        handlers.on_created(ctx, envelope("booking.created", payload))  # fails: a retry due
        revoke_partner_of(api.keys["partner"], redis_client, settings)
        clock.advance(seconds=60)
        deliveries.send_due(ctx)
        [entry] = [e for e in api.log(payload["booking"]["id"]) if e["channel"] == "webhook"]
        assert len(flaky.received) == 1
    assert entry["attempts"] == 2
    assert entry["last_error"] == "the endpoint was deleted, or its owner revoked"


def test_a_partner_hears_only_of_its_own_bookings_at_a_shared_studio(ctx, worker, api,
                                                                     redis_client, settings):
    keys = KeyStore(redis_client, settings.city)
    mine, my_key = keys.create_partner("mine", ["camden"])
    _, rival_key = keys.create_partner("rival", ["camden"])
    with receiving() as me, receiving() as rival:
        api.keys.update(me=my_key, rival=rival_key)
        api.add_webhook(me.url, as_="me")
        api.add_webhook(rival.url, as_="rival")
        payload = {**booking_payload(studio="camden"), "owner": mine.id}
        publish(ctx, envelope("booking.created", payload))
        received(me)
        api.wait_for_entry(payload["booking"]["id"], "booking.created", "sent")
        assert rival.received == []
