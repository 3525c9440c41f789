"""The contract between booking and notifications, for every event booking publishes
(booking.*, waitlist.*, client.erased): what booking really commits to its outbox is
read by what notifications consumes, and renders into the email, reminders and
webhook body the event asks for. Notifications keeps its own copies of the payload
schemas (services talk only over the bus): booking's schemas are the source, and
notifications reads no field they do not declare."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from marshmallow import Schema, fields

from services.booking import queues as booking_queues
from services.booking import schemas as produced
from services.booking.handlers import waitlist
from services.common.bus import Envelope, envelope_from_body, envelope_to_body
from services.common.correlation import correlation_id
from services.common.service import Infra
from services.notifications import domain as notifications
from services.notifications import handlers
from services.notifications import schemas as consumed
from services.notifications.bootstrap import Context as NotificationsContext
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.mail import compose
from services.notifications.webhooks import body as webhook_body
from tests.integration.booking.support import direct_booking, full_at_ten, joined, run_news

MAIL_FROM = "Spa <bookings@spa.example>"
NOW = datetime(2027, 3, 1, tzinfo=UTC)
ENDPOINT = notifications.Endpoint(
    id="wh_contract", url="https://partner.example/hooks",
    events=notifications.WEBHOOK_EVENTS, owner="k", secret="whsec_x", created_at="")


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
    now = NOW
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


def test_events_carry_the_id_of_the_request_that_caused_them(partner, availability, ctx):
    response = partner.post("/v1/bookings", json=direct_booking(), headers={
        "Idempotency-Key": "k1", "X-Request-Id": "req-contract"})
    assert response.status_code == 201, response.get_json()
    [created] = ctx.store.due_events()
    assert created.correlation_id == "req-contract"
    assert correlation_id() == ""  # unbound once the request ended


# waitlist.* and client.erased


@pytest.fixture
def waitlist_emitted(partner, availability, ctx, clock) -> dict[str, Envelope]:
    """One event of every waitlist.* type and a client.erased, as the booking service
    commits them: from its API and its worker's handlers."""
    seen: dict[str, Envelope] = {}

    def relay() -> None:  # what is due, before run_news marks it sent
        seen.update({envelope.type: envelope for envelope in ctx.store.due_events()})
        run_news(ctx, availability)

    booked = full_at_ten(partner)
    ada, grace, hana = joined(partner, "Ada"), joined(partner, "Grace"), joined(partner, "Hana")
    relay()  # joined; nothing is free
    assert partner.post(f"/v1/bookings/{booked['id']}/cancel", json={}).status_code == 200
    relay()  # Ada is offered 10:00
    assert partner.post(f"/v1/waitlist/{ada['id']}/decline").status_code == 200
    relay()  # then Grace
    accepted = partner.post(f"/v1/waitlist/{grace['id']}/accept",
                            headers={"Idempotency-Key": "accept-grace"})
    assert accepted.status_code == 201, accepted.get_json()
    assert partner.post(f"/v1/bookings/{accepted.get_json()['id']}/cancel",
                        json={}).status_code == 200
    relay()  # then Hana, who lets it lapse
    clock.advance(minutes=16)
    assert waitlist.lapse_offers(ctx) == 1
    assert partner.delete(f"/v1/waitlist/{ada['id']}").status_code == 204
    clock.advance(days=6)
    assert waitlist.expire_entries(ctx) == 1  # Hana's windows have passed
    assert partner.delete(f"/v1/clients/{grace['client']}").status_code == 204
    seen.update({envelope.type: envelope for envelope in ctx.store.due_events()})
    assert hana["id"] == seen["waitlist.expired"].payload["entry"]["id"]
    return seen


@pytest.fixture
def notifications_ctx(settings, clock) -> NotificationsContext:
    return notifications_bootstrap(Infra.from_settings(settings), clock)


@pytest.mark.parametrize("event_type", notifications.WAITLIST_EVENTS)
def test_every_waitlist_event_booking_emits_is_read_and_rendered_by_notifications(
        waitlist_emitted, notifications_ctx, event_type):
    envelope = waitlist_emitted[event_type]
    received = envelope_from_body(envelope_to_body(envelope))  # as the bus carries it
    event = handlers.read_event(received)
    assert (event.type, event.booking_id) == (event_type, envelope.payload["entry"]["id"])
    webhook = webhook_body(notifications.plan_webhooks(event, [ENDPOINT], NOW)[0])
    assert webhook["data"]["id"] == event.booking_id and "customer" in webhook["data"]
    handlers.EVENT_HANDLERS[event_type](notifications_ctx, received)  # the real handler
    emails = [d for d in notifications_ctx.store.for_booking(event.booking_id)
              if d.channel == "email"]
    if kind := notifications.EMAIL_KINDS.get(event_type):
        [planned] = emails
        message = compose(planned, MAIL_FROM)
        assert message["To"] == envelope.payload["customer"]["email"] and planned.kind == kind
        assert "Triyoga Camden" in message.get_body(("plain",)).get_content()
    else:
        assert emails == []


def test_client_erased_as_booking_emits_it_is_handled_by_notifications(
        waitlist_emitted, notifications_ctx):
    envelope = waitlist_emitted["client.erased"]
    received = envelope_from_body(envelope_to_body(envelope))
    handlers.EVENT_HANDLERS["client.erased"](notifications_ctx, received)
    erased = [*envelope.payload["bookings"], *envelope.payload["waitlist"]]
    assert len(envelope.payload["bookings"]) == len(envelope.payload["waitlist"]) == 1
    assert all(notifications_ctx.store.is_erased(subject) for subject in erased)


def test_the_scenario_emits_every_waitlist_event_and_an_erasure(waitlist_emitted):
    assert {*notifications.WAITLIST_EVENTS, "client.erased"} <= set(waitlist_emitted)


# the schemas


def undeclared(consumer: Schema, producer: Schema, path: str = "") -> list[str]:
    """The fields `consumer` reads that `producer` does not declare, nested included."""
    declared = {field.data_key or name: field for name, field in producer.fields.items()}
    missing = []
    for name, field in consumer.fields.items():
        key = field.data_key or name
        if key not in declared:
            missing.append(path + key)
        elif isinstance(field, fields.Nested) and isinstance(declared[key], fields.Nested):
            missing += undeclared(field.schema, declared[key].schema, f"{path}{key}.")
    return missing


@pytest.mark.parametrize("consumer, producer", [
    (consumed.BookingSchema, produced.EventBookingSchema),
    (consumed.EntrySchema, produced.WaitlistEntrySchema),
], ids=["booking", "waitlist entry"])
def test_notifications_reads_only_what_bookings_schemas_declare(consumer, producer):
    assert undeclared(consumer(), producer()) == []
