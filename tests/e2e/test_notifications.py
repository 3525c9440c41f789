"""Notifications as a partner meets them through the gateway: a booking made with
the API emails the customer (with its invite) and calls the partner's webhook; the
delivery log shows both; events wait for a stopped worker."""

from __future__ import annotations

import random
import uuid
from contextlib import contextmanager

from icalendar import Calendar
from standardwebhooks import Webhook

from services.common.bus import Envelope, Publisher, broker_connection
from tests.helpers import WebhookReceiver, wait_for
from tests.unit.notifications.samples import booking_payload


@contextmanager
def receiving():
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def registered(stack, url: str):
    """The dev partner's endpoint for this test only (the stack outlives the test)."""
    response = stack.post("/v1/webhooks", key="partner",
                          json={"url": url, "events": ["booking.created"]})
    assert response.status_code == 201, response.text
    try:
        yield response.json()["secret"]
    finally:
        stack.request("DELETE", f"/v1/webhooks/{response.json()['id']}", key="partner")


def mail_to(stack, address: str, count: int = 1) -> list:
    def arrived():
        found = [m for m in stack.smtp.messages if m["To"] == address]
        return found if len(found) >= count else None
    return wait_for(arrived, timeout_s=20, what=f"{count} email(s) to the customer")


def book(stack, email: str) -> dict:
    """A direct booking of ashiatsu at camden, on a day of this test's own."""
    day = stack.day()
    slots = stack.get("/v1/slots", key="partner", params={
        "treatment": "ashiatsu", "duration": 60, "studio": "camden",
        "from": day, "to": day}).json()["items"]
    slot = random.choice(slots)
    response = stack.post("/v1/bookings", key="partner",
                          headers={"Idempotency-Key": uuid.uuid4().hex}, json={
                              "studio": "camden", "treatment": "ashiatsu", "duration": 60,
                              "start": slot["start"],
                              "customer": {"name": "Ada Lovelace", "email": email},
                              "intake": {"pregnant": False, "recent_surgery": False,
                                         "recent_injury": False, "pressure": "medium"}})
    assert response.status_code == 201, response.text
    return response.json()


def log(stack, booking_id: str) -> list[dict]:
    response = stack.get("/v1/notifications", key="partner", params={"booking": booking_id})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def sent(stack, booking_id: str, kind: str) -> dict:
    def delivered():
        return next((e for e in log(stack, booking_id)
                     if e["kind"] == kind and e["status"] == "sent"), None)
    return wait_for(delivered, timeout_s=20, what=f"the {kind} notification to be sent")


def test_a_booking_emails_the_customer_and_calls_the_partner_webhook(stack):
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    with receiving() as receiver, registered(stack, receiver.url) as secret:
        booking = book(stack, email)
        [message] = mail_to(stack, email)
        request = wait_for(lambda: [r for r in receiver.received
                                    if r.json()["data"]["id"] == booking["id"]],
                           timeout_s=20, what="the webhook")[0]
    assert "Triyoga Camden" in message["Subject"]
    [ics] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert Calendar.from_ical(ics.get_payload(decode=True))["METHOD"] == "REQUEST"
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["type"] == "booking.created" and body["data"]["status"] == "confirmed"
    assert sent(stack, booking["id"], "confirmation")["channel"] == "email"
    assert sent(stack, booking["id"], "booking.created")["channel"] == "webhook"


def test_a_cancellation_through_the_api_sends_the_cancelling_invite(stack):
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    booking = book(stack, email)
    mail_to(stack, email)
    response = stack.post(f"/v1/bookings/{booking['id']}/cancel", key="partner", json={})
    assert response.status_code == 200, response.text
    cancellation = mail_to(stack, email, 2)[-1]
    [ics] = [p for p in cancellation.walk() if p.get_content_type() == "text/calendar"]
    assert Calendar.from_ical(ics.get_payload(decode=True))["METHOD"] == "CANCEL"


def test_events_published_while_the_worker_is_down_are_sent_when_it_is_back(stack):
    payload = booking_payload(studio="camden")
    email = payload["booking"]["customer"]["email"]
    stack.stop_process("notifications-worker")
    try:
        with broker_connection(stack.broker_url) as conn:
            Publisher(conn).publish(Envelope(type="booking.created", payload=payload,
                                             source="booking", city="london"))
    finally:
        stack.start_process("notifications-worker")
    mail_to(stack, email)
    assert sent(stack, payload["booking"]["id"], "confirmation")["attempts"] == 1
