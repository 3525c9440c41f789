"""Each (event, channel, recipient or endpoint) has its effect once, whatever the bus
or a dying worker does."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from services.common.redis import EmbeddedRedis
from services.common.service import Infra
from services.notifications import deliveries, handlers, queues
from services.notifications.bootstrap import bootstrap
from services.notifications.domain import plan_email
from services.notifications.mail import MaildirMailer, SmtpConfig, SmtpMailer
from tests.helpers import wait_for
from tests.integration.notifications.support import (
    mail_to,
    notifications_worker,
    publish,
    wait_for_mail,
)
from tests.unit.notifications import samples
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


class CrashAfterSending:
    """A real mailer whose send goes through, after which Redis dies: the moment
    between a message leaving and its outcome being recorded."""

    def __init__(self, mailer, redis_server: EmbeddedRedis):
        self.mailer, self.redis_server = mailer, redis_server
        self.idempotent = mailer.idempotent

    def send(self, message) -> None:
        self.mailer.send(message)
        self.redis_server.process.kill()
        self.redis_server.process.wait()


@pytest.fixture
def own_redis(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def send_through_a_redis_crash(settings, own_redis, mailer, clock):
    """Plan one confirmation, send it through a crash, restart Redis, let the lease lapse
    and run the worker's periodic sends again; the delivery as then recorded."""
    ctx = bootstrap(Infra.from_settings(replace(settings, redis_url=own_redis.url)), clock)
    ctx.mailer = CrashAfterSending(mailer, own_redis)
    event = samples.event("booking.created", booking_payload())
    planned = plan_email(event, "confirmation", clock.now())
    ctx.store.create(planned)
    with pytest.raises(redis.ConnectionError):
        deliveries.attempt(ctx, planned.id)
    own_redis.start()
    ctx.mailer = mailer
    clock.advance(seconds=deliveries.lease_s(ctx) + 1)
    assert deliveries.send_due(ctx) == 1
    return ctx.store.get(planned.id), planned


def test_a_redis_crash_after_a_maildir_send_does_not_send_it_again(
        notifications_settings, own_redis, clock, tmp_path):
    maildir = MaildirMailer(tmp_path / "mail")
    delivery, planned = send_through_a_redis_crash(notifications_settings, own_redis,
                                                   maildir, clock)
    assert (delivery.status, delivery.possible_duplicate) == ("sent", False)
    assert [p.name for p in (tmp_path / "mail" / "new").iterdir()] == [planned.id]


def test_a_redis_crash_after_an_smtp_send_repeats_it_recognisably(
        notifications_settings, own_redis, clock, smtp_server):
    smtp = SmtpMailer(SmtpConfig.from_url(smtp_server.url))
    delivery, planned = send_through_a_redis_crash(notifications_settings, own_redis,
                                                   smtp, clock)
    assert (delivery.status, delivery.possible_duplicate) == ("sent", True)
    sent = mail_to(smtp_server, planned.target)
    assert len(sent) == 2 and {m["Message-ID"] for m in sent} == {f"<{planned.id}@spa.example>"}
