"""Webhook URL policy and Standard Webhooks signing, without a network."""

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifications.domain import Endpoint, plan_webhooks
from services.notifications.webhooks import body, new_secret, signed_headers, url_refusal
from tests.unit.notifications.samples import booking_payload, event


def resolver(*addresses: str):
    return lambda host: list(addresses)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.7", "172.16.5.5",
                                     "169.254.169.254", "::1", "fd00::1", "0.0.0.0"])
def test_loopback_private_and_link_local_addresses_are_refused(address):
    reason = url_refusal("https://partner.example/hooks", False, resolver(address))
    assert reason == "loopback and private addresses are not allowed"


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    assert url_refusal("https://x.example/", False, resolver("93.184.216.34", "10.0.0.1"))


def test_a_public_address_is_allowed():
    assert url_refusal("https://x.example/h", False, resolver("93.184.216.34")) is None


def test_private_addresses_are_allowed_when_the_admin_setting_says_so():
    assert url_refusal("http://127.0.0.1:9000/h", True, resolver("127.0.0.1")) is None


@pytest.mark.parametrize("url", ["ftp://x.example/", "file:///etc/passwd", "https://", "x"])
def test_only_http_urls_with_a_host_are_allowed(url):
    assert url_refusal(url, True, resolver("93.184.216.34")) == (
        "must be an http(s) URL with a host")


def test_a_host_that_does_not_resolve_is_refused():
    assert url_refusal("https://nowhere.invalid/", False, resolver()) == (
        "the host does not resolve")


def test_a_signed_delivery_verifies_with_the_standardwebhooks_package():
    secret = new_secret()
    assert secret.startswith("whsec_")
    payload = '{"type":"booking.created"}'
    headers = signed_headers(secret, "evt_1", payload, datetime.now(UTC))
    assert Webhook(secret).verify(payload, headers) == {"type": "booking.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload, headers)


def test_the_body_is_type_timestamp_and_the_booking_without_intake():
    payload = booking_payload()
    payload["booking"]["intake"] = {"pregnant": False}
    created = event("booking.created", payload)
    endpoint = Endpoint("wh_1", "https://x.example", ("booking.created",), "p", "whsec_x", "")
    sent = body(plan_webhooks(created, [endpoint], datetime.now(UTC))[0])
    assert sent["type"] == "booking.created" and sent["timestamp"] == created.occurred_at
    assert sent["data"]["id"] == created.booking_id and "intake" not in sent["data"]
    assert set(sent) == {"type", "timestamp", "data"}
