"""The contract between booking and notifications, for every booking.* event: what
booking really commits to its outbox is read by what notifications consumes, and
renders into the email, reminders and webhook body the event asks for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.booking import queues as booking_queues
from services.common.bus import envelope_from_body, envelope_to_body
from services.notifications import domain as notifications
from services.notifications import handlers
from services.notifications.mail import compose
from services.notifications.webhooks import body as webhook_body
from tests.integration.booking.support import direct_booking

MAIL_FROM = "Spa <bookings@spa.example>"
ENDPOINT = notifications.Endpoint(
    id="wh_contract", url="https://partner.example/hooks",
    events=notifications.BOOKING_EVENTS, owner="k", secret="whsec_x", created_at="")


@pytest.fixture
def emitted(partner, availability, ctx) -> dict:
    """One event of every type, as the booking service commits them (outbox order)."""
    def book(start: str) -> str:
        response = partner.book(direct_booking(start))
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    moved, cancelled = book("2027-03-10T10:00:00+00:00"), book("2027-03-10T12:00:00+00:00")
    done, absent = book("2027-03-11T10:00:00+00:00"), book("2027-03-11T12:00:00+00:00")
    assert partner.post(f"/v1/bookings/{moved}/reschedule",
                        json={"start": "2027-03-12T10:00:00+00:00"}).status_code == 200
    assert partner.post(f"/v1/bookings/{cancelled}/cancel", json={}).status_code == 200
    assert partner.post(f"/v1/bookings/{done}/complete").status_code == 200
    assert partner.post(f"/v1/bookings/{absent}/no-show").status_code == 200
    return {envelope.type: envelope for envelope in ctx.store.due_events()}


def test_booking_publishes_exactly_the_events_notifications_handles():
    assert set(booking_queues.PUBLISHES) == {*notifications.WEBHOOK_EVENTS, "client.erased"}
    assert set(handlers.EVENT_HANDLERS) == set(booking_queues.PUBLISHES)


def test_every_event_booking_emits_is_read_and_rendered_by_notifications(emitted):
    assert set(emitted) == set(notifications.BOOKING_EVENTS)
    now = datetime(2027, 3, 1, tzinfo=UTC)
    for event_type, envelope in emitted.items():
        received = envelope_from_body(envelope_to_body(envelope))  # as the bus carries it
        event = handlers.read_event(received)
        assert (event.type, event.booking_id) == (event_type, envelope.payload["booking"]["id"])
        webhook = webhook_body(notifications.plan_webhooks(event, [ENDPOINT], now)[0])
        assert webhook["data"]["id"] == event.booking_id and "customer" in webhook["data"]
        if kind := notifications.EMAIL_KINDS.get(event_type):
            message = compose(notifications.plan_email(event, kind, now), MAIL_FROM)
            assert message["To"] == "ada@example.com"
            assert "Triyoga Camden" in message.get_body(("plain",)).get_content()
    reminders = notifications.plan_reminders(handlers.read_event(emitted["booking.created"]),
                                             [24 * 60], now)
    assert {r.kind for r in reminders} == {"reminder", "last_meal"}


def test_no_event_carries_the_intake_only_the_screening_outcome(emitted):
    for envelope in emitted.values():
        body = str(envelope_to_body(envelope))
        assert "intake" not in body and "pregnant" not in body and "surgery" not in body
        assert envelope.payload["booking"]["screening"]["outcome"] == "cleared"
