"""Booking events become emails on a real SMTP server, with invites that import."""

from __future__ import annotations

import mailbox
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar

from services.common.service import Infra
from services.notifications import deliveries, handlers
from services.notifications.bootstrap import bootstrap
from tests.helpers import wait_for
from tests.integration.notifications.support import (
    notifications_worker,
    publish,
    wait_for_mail,
)
from tests.unit.notifications.samples import booking_payload, cancelled, envelope, rescheduled

START = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)


def invite(message) -> Calendar:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_payload(decode=True))


def text(message) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return part.get_payload(decode=True).decode()


def emails(smtp_server, payload: dict, count: int) -> list:
    return wait_for_mail(smtp_server, payload["booking"]["customer"]["email"], count)


def test_a_new_booking_sends_one_confirmation_with_an_invite(ctx, worker, smtp_server, api):
    payload = booking_payload(START)
    publish(ctx, envelope("booking.created", payload))
    [message] = emails(smtp_server, payload, 1)
    assert message["Subject"].startswith("Booked: Ashiatsu at Triyoga Camden")
    assert "Tuesday 15 December 2026, 10:00 GMT (Europe/London)" in text(message)
    calendar = invite(message)
    event = calendar.events[0]
    assert calendar["METHOD"] == "REQUEST" and event["SEQUENCE"] == 0
    assert event.start == datetime(2026, 12, 15, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    entry = api.wait_for_entry(payload["booking"]["id"], "confirmation", "sent")
    assert (entry["channel"], entry["attempts"], entry["sent_at"] is not None) == ("email", 1,
                                                                                  True)


def test_a_cancellation_sends_an_invite_that_cancels_the_event(ctx, worker, smtp_server):
    payload = booking_payload(START)
    publish(ctx, envelope("booking.created", payload))
    publish(ctx, envelope("booking.cancelled", cancelled(payload, "changed plans")))
    confirmation, cancellation = sorted(emails(smtp_server, payload, 2),
                                        key=lambda m: "Cancelled" in m["Subject"])
    assert cancellation["Subject"].startswith("Cancelled:")
    assert "changed plans" in text(cancellation)
    calendar = invite(cancellation)
    assert calendar["METHOD"] == "CANCEL"
    assert calendar.events[0]["STATUS"] == "CANCELLED"
    assert calendar.events[0]["UID"] == invite(confirmation).events[0]["UID"]


def test_a_reschedule_updates_the_event_with_the_next_sequence(ctx, worker, smtp_server):
    payload = booking_payload(START)
    moved = rescheduled(payload, datetime(2026, 12, 16, 14, 0, tzinfo=UTC))
    publish(ctx, envelope("booking.created", payload))
    publish(ctx, envelope("booking.rescheduled", moved))
    messages = emails(smtp_server, payload, 2)
    [update] = [m for m in messages if m["Subject"].startswith("Moved:")]
    event = invite(update).events[0]
    assert invite(update)["METHOD"] == "REQUEST"
    assert event["SEQUENCE"] == 1
    assert event.start.hour == 14 and str(event.start.tzinfo) == "Europe/London"
    assert "moved from Tuesday 15 December 2026, 10:00 GMT" in text(update)


def test_without_an_smtp_url_mail_lands_in_the_maildir(notifications_settings, clock):
    ctx = bootstrap(Infra.from_settings(replace(notifications_settings, smtp_url="")),
                    clock)
    payload = booking_payload(START)
    with notifications_worker(ctx):
        publish(ctx, envelope("booking.created", payload))
        folder = notifications_settings.data_dir / "mail"
        # `cur` is the last subfolder Maildir creates: before it, listing would fail.
        [message] = wait_for(lambda: (folder / "cur").is_dir() and list(mailbox.Maildir(folder)),
                             what="a message in the maildir")
    assert message["To"] == payload["booking"]["customer"]["email"]


def test_an_unreachable_mail_server_is_retried_then_failed(notifications_settings, clock,
                                                           api):
    dead = replace(notifications_settings, smtp_url="smtp://127.0.0.1:9")
    ctx = bootstrap(Infra.from_settings(dead), clock)
    payload = booking_payload(START)
    with notifications_worker(ctx):
        publish(ctx, envelope("booking.created", payload))
        entry = api.wait_for_entry(payload["booking"]["id"], "confirmation", "failed")
    assert entry["attempts"] == 3  # one try and the two retries of the test schedule
    assert entry["last_error"] == "mail server unavailable (ConnectionRefusedError)"


def test_while_events_wait_the_emails_go_a_few_at_a_time(notifications_settings, clock):
    """A burst's webhooks are not queued behind its emails: the periodic send, told
    the worker is busy, sends a short batch and leaves the rest for the next run."""
    ctx = bootstrap(Infra.from_settings(replace(notifications_settings, smtp_url="")),
                    clock)
    for _ in range(deliveries.BUSY_BATCH + 3):
        handlers.on_created(ctx, envelope("booking.created", booking_payload(START)))
    assert deliveries.send_due(ctx, busy=True) == deliveries.BUSY_BATCH
    assert deliveries.send_due(ctx) == 3
    assert len(list(mailbox.Maildir(notifications_settings.data_dir / "mail"))) == \
        deliveries.BUSY_BATCH + 3
