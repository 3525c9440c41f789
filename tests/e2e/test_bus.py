"""The bus between the real processes of the stack: an event one service publishes
is consumed by another, a duplicate is handled once, a message that keeps failing
ends in the dead-letter list an operator reads and replays with `spa`."""

from __future__ import annotations

import json

from services.common.bus import Envelope, Publisher, broker_connection
from tests.helpers import wait_for
from tests.unit.notifications.samples import booking_payload

QUEUE = "notifications.events"


def publish(stack, *envelopes: Envelope) -> None:
    with broker_connection(stack.broker_url) as connection:
        publisher = Publisher(connection)
        for envelope in envelopes:
            publisher.publish(envelope)


def dead_letters(stack) -> list[dict]:
    lines = stack.spa("dead-letters", "list", "notifications", QUEUE).splitlines()
    return [json.loads(line) for line in lines]


def emails_to(stack, address: str) -> list:
    return [m for m in stack.smtp.messages if m["To"] == address]


def created(payload: dict) -> Envelope:
    return Envelope(type="booking.created", payload=payload, source="booking",
                    city="london", correlation_id="e2e-bus")


def test_an_event_booking_publishes_is_consumed_by_notifications(stack):
    payload = booking_payload()
    publish(stack, created(payload))
    wait_for(lambda: emails_to(stack, payload["booking"]["customer"]["email"]),
             timeout_s=20, what="the confirmation email")


def test_a_duplicate_envelope_id_is_handled_once(stack):
    payload = booking_payload()
    envelope = created(payload)
    marker = created(booking_payload())  # published after: once it is in, so is the twin
    publish(stack, envelope, envelope, marker)
    wait_for(lambda: emails_to(stack, marker.payload["booking"]["customer"]["email"]),
             timeout_s=20, what="the email of the later event")
    assert len(emails_to(stack, payload["booking"]["customer"]["email"])) == 1


def test_a_message_that_keeps_failing_is_dead_lettered_then_replayed(stack):
    broken = created({"booking": {"id": "bk_broken"}})  # no customer, no context
    publish(stack, broken)
    dead = wait_for(lambda: [d for d in dead_letters(stack) if d["id"] == broken.id],
                    timeout_s=20, what="the dead letter")
    assert dead[0]["attempts"] == 3  # the first try, then one per retry delay (0.2, 0.4 s)
    assert "ValidationError" in dead[0]["error"]
    assert "replayed" in stack.spa("dead-letters", "replay", "notifications", QUEUE)
    again = wait_for(lambda: [d for d in dead_letters(stack) if d["id"] == broken.id
                              and d["failed_at"] != dead[0]["failed_at"]],
                     timeout_s=20, what="the replayed message to be tried and fail again")
    assert len(again) == 1
