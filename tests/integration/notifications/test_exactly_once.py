"""Each (event, channel, recipient or endpoint) has its effect once, whatever the bus
or a dying worker does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.notifications import deliveries, handlers, queues
from tests.helpers import wait_for
from tests.integration.notifications.support import (
    mail_to,
    notifications_worker,
    publish,
    wait_for_mail,
)
from tests.unit.notifications.samples import booking_payload, envelope


def customer(event) -> str:
    return event.payload["booking"]["customer"]["email"]


def handled(smtp_server, receiver, marker) -> None:
    """Wait until `marker`, published last, is done: everything before it is too."""
    wait_for_mail(smtp_server, customer(marker))
    wait_for(lambda: any(r.headers["webhook-id"] == marker.id for r in receiver.received),
             what="the marker's webhook")


def effects(smtp_server, receiver, event) -> tuple[int, int]:
    webhooks = [r for r in receiver.received if r.headers["webhook-id"] == event.id]
    return len(mail_to(smtp_server, customer(event))), len(webhooks)


def test_the_same_event_published_twice_sends_one_email_and_one_webhook(
        ctx, worker, api, smtp_server, webhook_receiver):
    api.add_webhook(webhook_receiver.url)
    twice = envelope("booking.created", booking_payload())
    marker = envelope("booking.created", booking_payload())
    publish(ctx, twice, twice, marker)
    handled(smtp_server, webhook_receiver, marker)
    assert effects(smtp_server, webhook_receiver, twice) == (1, 1)


def test_an_event_redelivered_after_the_bus_forgot_it_sends_nothing_again(
        ctx, worker, api, smtp_server, webhook_receiver):
    api.add_webhook(webhook_receiver.url)
    event = envelope("booking.created", booking_payload())
    publish(ctx, event)
    handled(smtp_server, webhook_receiver, event)
    # The bus's dedupe mark expires after a week; the deliveries must still hold.
    ctx.infra.redis.delete(queues.consumers(ctx)[0].seen_key(event.id))
    marker = envelope("booking.created", booking_payload())
    publish(ctx, event, marker)
    handled(smtp_server, webhook_receiver, marker)
    assert effects(smtp_server, webhook_receiver, event) == (1, 1)


class WorkerDied(BaseException):
    """The process ends mid-send (SIGKILL, OOM): no handler code runs after it."""


class DyingMailer:
    def send(self, message) -> None:
        raise WorkerDied


def test_a_send_cut_short_by_a_dying_worker_is_sent_once_after_a_restart(
        ctx, clock, api, smtp_server, webhook_receiver):
    api.add_webhook(webhook_receiver.url)
    event = envelope("booking.created", booking_payload())
    dying = replace(ctx, mailer=DyingMailer())
    handlers.on_created(dying, event)  # the webhook goes at once; the email is due
    with pytest.raises(WorkerDied):
        deliveries.send_due(dying)
    assert deliveries.send_due(ctx) == 0  # still leased to the dead worker
    clock.advance(seconds=deliveries.lease_s(ctx) + 1)
    with notifications_worker(ctx):
        publish(ctx, event)  # the broker redelivers what the dead worker never acked
        entry = api.wait_for_entry(event.payload["booking"]["id"], "confirmation", "sent")
    assert effects(smtp_server, webhook_receiver, event) == (1, 1)
    assert entry["attempts"] == 1
