"""What notifications consumes and publishes, and the guarantee of each.

consumes  booking.*  on the durable queue `notifications.events`:
          at-least-once, acked after the handler; deduped by envelope id;
          retried with backoff, then dead-lettered (services/common/bus.py).
publishes notification.sent, notification.failed
"""

from __future__ import annotations

from functools import partial

from services.common import bus
from services.common.service import run_worker
from services.notifications import handlers
from services.notifications.bootstrap import Context

SERVICE = "notifications"
QUEUE = bus.event_queue("notifications.events", ["booking.*"])
QUEUES = [QUEUE]
PUBLISHES = ("notification.sent", "notification.failed")
BOOKING_EVENTS = ("booking.created", "booking.cancelled", "booking.rescheduled",
                  "booking.completed", "booking.no_show")


def run(ctx: Context) -> None:
    table = {name: partial(handlers.on_booking_event, ctx) for name in BOOKING_EVENTS}
    run_worker(ctx.infra, [ctx.infra.event_consumer(SERVICE, QUEUE, table)])
