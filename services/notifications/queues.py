"""What notifications consumes and publishes, and the guarantee of each.

consumes  booking.*, waitlist.*, client.erased  on the durable queue
          `notifications.events`:
          AT-LEAST-ONCE, acked after the handler; deduped by envelope id; retried with
          backoff, then dead-lettered (services/common/bus.py). On top of that each
          delivery is created once (SET NX on its derived id) and never re-sent once
          recorded as sent, so a redelivered event sends nothing twice
          (services/notifications/deliveries.py).
serves    RPC `notifications.rpc` (`deliveries`: what was sent about some bookings, for
          a client's export): acked once answered; read-only, so a retry is harmless.
publishes notification.sent, notification.failed: AT-MOST-ONCE, best effort, after
          the outcome is recorded in the delivery log (the log is the record).
periodic  every SEND_DUE_EVERY_S: send what fell due (emails, reminders, retries,
          redeliveries); it waits (at most a second) while events keep arriving.
"""

from __future__ import annotations

from functools import partial

from services.common import bus
from services.common.rpc import Method, RpcServer, rpc_method, rpc_queue
from services.common.service import run_worker
from services.notifications import deliveries, handlers
from services.notifications.bootstrap import Context
from services.notifications.schemas import SentAboutParams, SentAboutSchema

SERVICE = "notifications"
QUEUE = bus.event_queue("notifications.events", ["booking.*", "waitlist.*", "client.erased"])
QUEUES = [QUEUE, rpc_queue(SERVICE)]
PUBLISHES = ("notification.sent", "notification.failed")
SEND_DUE_EVERY_S = 0.2


def consumers(ctx: Context) -> list[bus.EventConsumer]:
    table = {name: partial(handler, ctx) for name, handler in handlers.EVENT_HANDLERS.items()}
    return [ctx.infra.event_consumer(SERVICE, QUEUE, table)]


def periodic(ctx: Context) -> list[bus.Periodic]:
    # Yields to messages: a burst's webhooks go out before its emails (handlers.notify).
    return [bus.Periodic(SEND_DUE_EVERY_S, partial(deliveries.send_due, ctx),
                         yields_to_messages=True)]


def methods(ctx: Context) -> dict[str, Method]:
    def sent_about(params: dict) -> dict:
        return {"items": handlers.sent_about(ctx, params["bookings"])}

    return {"ping": lambda params: {"pong": True, "city": ctx.settings.city},
            "deliveries": rpc_method(sent_about, SentAboutParams(), SentAboutSchema())}


def run(ctx: Context) -> None:
    run_worker(ctx.infra, consumers(ctx), rpc_servers=[RpcServer(SERVICE, methods(ctx))],
               periodic=periodic(ctx))
