"""Partner webhooks, per the Standard Webhooks spec: which URLs may be registered,
how a delivery is signed, and the POST itself.

A delivery's `webhook-id` is the booking event's id, the same on every retry and
redelivery, so a receiver that dedupes on it acts on each event once.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from ssrfguard import DEFAULT_DENIED, AddressTable, Policy, SSRFGuardError
from ssrfguard.requests import Session
from standardwebhooks import Webhook

from services.notifications.domain import Delivery, DeliveryError, Endpoint

Resolver = Callable[[str], list[str]]
ANY_PORT = frozenset(range(1, 65536))  # partners' endpoints listen where they like


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to (DNS may answer a public and a private one)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except socket.gaierror:
        return []


def url_refusal(url: str, allow_private: bool, resolver: Resolver = resolve) -> str | None:
    """Why `url` may not receive webhooks, or None when it may. Loopback, private and
    link-local targets are refused so that a partner cannot make us call into our own
    network (SSRF), unless an admin allows them (dev and tests)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if allow_private:
        return None
    addresses = resolver(parts.hostname)
    if not addresses:
        return "the host does not resolve"
    if any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        return "loopback and private addresses are not allowed"
    return None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_endpoint_id() -> str:
    return "wh_" + secrets.token_hex(8)


def body(delivery: Delivery) -> dict:
    """{type, timestamp, data}: data is the booking as the event carried it, or the
    waitlist entry with its `customer`."""
    payload = delivery.payload
    if "entry" in payload:
        return {"type": delivery.event_type, "timestamp": delivery.occurred_at,
                "data": {**payload["entry"], "customer": payload["customer"]}}
    booking = {k: v for k, v in payload["booking"].items() if k != "intake"}
    return {"type": delivery.event_type, "timestamp": delivery.occurred_at, "data": booking}


def signed_headers(secret: str, message_id: str, payload: str, at: datetime) -> dict:
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, at, payload),
            "Content-Type": "application/json"}


def webhook_session(allow_private: bool) -> requests.Session:
    """The session every webhook goes out on. It resolves the host, checks every
    address and connects to the one it checked (ssrfguard), at each new connection: a
    host that pointed to a public address at registration cannot reach into our network
    later, not even with a DNS answer that changes between the check and the connect."""
    denied = AddressTable(()) if allow_private else DEFAULT_DENIED
    return Session(policy=Policy(denied_networks=denied, allowed_ports=ANY_PORT))


def post_webhook(session: requests.Session, endpoint: Endpoint | None, delivery: Delivery,
                 timeout_s: float) -> None:
    """One attempt; a 2xx answer is delivered, anything else raises DeliveryError."""
    if endpoint is None:
        raise DeliveryError("the endpoint was deleted, or its owner revoked")
    if not endpoint.wants(delivery.event_type, delivery.studio,
                          delivery.payload.get("owner") or ""):
        raise DeliveryError("the endpoint's owner no longer sees this studio")
    payload = json.dumps(body(delivery), separators=(",", ":"))
    # Signed with the real time: receivers reject timestamps more than minutes old.
    headers = signed_headers(endpoint.secret, delivery.event_id, payload, datetime.now(UTC))
    try:
        response = session.post(endpoint.url, data=payload.encode(), headers=headers,
                                timeout=timeout_s, allow_redirects=False)
    except SSRFGuardError as refusal:
        raise DeliveryError(f"refused to send: {refusal}") from None
    except requests.Timeout:
        raise DeliveryError(f"no answer within {timeout_s:g} s") from None
    except requests.RequestException as error:
        raise DeliveryError(f"could not connect ({type(error).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"the endpoint answered HTTP {response.status_code}")
