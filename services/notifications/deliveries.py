"""Sending a planned delivery: claim it, send it, record the attempt, announce it.

Exactly-once effect: a delivery exists once per (event, channel, target, kind), as
the store creates it with SET NX; it is sent only by the holder of its lease, and a
delivery recorded as sent is never sent again. The lease outlives any send, so a
worker (or Redis) that dies mid-send leaves the delivery to be tried again once the
lease lapses. The store marks every send in flight, so that next attempt knows:
- to the maildir it is still exactly once (a message already in the folder, found
  by its Message-ID, is not written again);
- over SMTP and to webhooks the message may go out twice, recognisably: the same
  Message-ID (email) or `webhook-id` (webhook), and the delivery log says
  `possible_duplicate`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import replace

from services.common.auth import KeyStore, Principal
from services.common.bus import Envelope
from services.notifications.bootstrap import Context
from services.notifications.domain import Delivery, DeliveryError, Endpoint, retry_delay
from services.notifications.mail import send_email
from services.notifications.webhooks import post_webhook

log = logging.getLogger(__name__)


BUSY_BATCH = 5  # sends per run while events wait: their webhooks come first


def send_due(ctx: Context, busy: bool = False) -> int:
    """The worker's periodic job: new events' emails, reminders that fell due, retries,
    redeliveries, and sends a dead worker left behind. While events wait (`busy`), a
    few at a time, so that a burst's webhooks are not queued behind its emails."""
    ids = ctx.store.due_ids(ctx.now().timestamp(), limit=BUSY_BATCH if busy else 100)
    send_now(ctx, ids)
    return len(ids)


def send_now(ctx: Context, delivery_ids: Iterable[str]) -> None:
    for delivery_id in delivery_ids:
        attempt(ctx, delivery_id)


def attempt(ctx: Context, delivery_id: str) -> Delivery | None:
    """Send one delivery if it is due and nobody else holds it; returns its new state."""
    claimed = ctx.store.claim(delivery_id, ctx.now().timestamp(), lease_s(ctx))
    if claimed is None:
        return None
    delivery, interrupted = claimed
    if interrupted and not (delivery.channel == "email" and ctx.mailer.idempotent):
        delivery = replace(delivery, possible_duplicate=True)
    if delivery.status != "pending":
        ctx.store.unschedule(delivery_id)
        return None
    outcome = record(ctx, delivery, send(ctx, delivery))
    announce(ctx, outcome)
    return outcome


def lease_s(ctx: Context) -> float:
    """Longer than any one send may take, so a live sender never loses its lease."""
    return 2 * max(ctx.settings.smtp_timeout_s, ctx.settings.webhook_timeout_s)


def send(ctx: Context, delivery: Delivery) -> str | None:
    """None when delivered, else why not."""
    try:
        if delivery.channel == "email":
            send_email(ctx.mailer, ctx.settings.mail_from, delivery)
        else:
            post_webhook(ctx.http, live_endpoint(ctx, delivery.target), delivery,
                         ctx.settings.webhook_timeout_s)
    except DeliveryError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - a bug must not stop the other sends
        log.exception("send failed unexpectedly", extra={"booking": delivery.booking,
                                                         "channel": delivery.channel})
        return f"internal error ({type(error).__name__})"
    return None


def live_endpoints(ctx: Context, endpoints: list[Endpoint]) -> list[Endpoint]:
    """`endpoints` scoped to what their owner (a partner, or an admin key) sees now,
    not at registration: a partner narrowed later narrows its deliveries, and a revoked
    one's get nothing (new events, retries and redeliveries alike)."""
    keys = KeyStore(ctx.infra.redis, ctx.settings.city)
    owners = keys.owners(sorted({e.owner for e in endpoints}))
    return [replace(e, studios=scope_of(owners[e.owner])) for e in endpoints
            if e.owner in owners]


def live_endpoint(ctx: Context, endpoint_id: str) -> Endpoint | None:
    endpoint = ctx.store.endpoint(endpoint_id)
    return next(iter(live_endpoints(ctx, [endpoint])), None) if endpoint else None


def scope_of(principal: Principal) -> tuple[str, ...] | None:
    return None if principal.is_admin else tuple(sorted(principal.studios))


def record(ctx: Context, delivery: Delivery, error: str | None) -> Delivery:
    now = ctx.now()
    if error is None:
        outcome = delivery.sent(now)
    else:
        wait = retry_delay(delivery.attempts + 1, ctx.settings.webhook_retry_delays_s,
                           random.random())
        outcome = delivery.failed(error, now, wait)
    if ctx.store.is_erased(delivery.booking):  # the client was erased while we sent
        outcome = outcome.erased()
    ctx.store.save(outcome)
    log.info("notification attempt", extra={
        "booking": delivery.booking, "channel": delivery.channel, "kind": delivery.kind,
        "status": outcome.status, "attempt": outcome.attempts, "error": error})
    return outcome


def announce(ctx: Context, delivery: Delivery) -> None:
    """notification.sent / notification.failed, once a delivery's fate is settled.
    Best effort: the delivery log is the record; a lost announcement loses nothing."""
    if delivery.status == "pending":
        return
    payload = {"notification_id": delivery.id, "booking": delivery.booking,
               "channel": delivery.channel, "kind": delivery.kind,
               "attempts": delivery.attempts, "last_error": delivery.last_error}
    envelope = Envelope(type=f"notification.{delivery.status}", payload=payload,
                        source="notifications", city=ctx.settings.city,
                        correlation_id=delivery.correlation_id)
    try:
        ctx.infra.publisher.publish(envelope)
    except Exception as error:  # noqa: BLE001 - see the docstring
        log.warning("could not publish", extra={"type": envelope.type,
                                                "error": type(error).__name__})
