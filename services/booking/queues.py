"""What booking consumes and publishes, and the guarantee of each.

publishes booking.created, booking.cancelled, booking.rescheduled, booking.completed,
          booking.no_show (through the transactional outbox)
"""

from __future__ import annotations

from services.booking.bootstrap import Context
from services.common.service import run_worker

SERVICE = "booking"
QUEUES: list = []
PUBLISHES = ("booking.created", "booking.cancelled", "booking.rescheduled",
             "booking.completed", "booking.no_show")


def run(ctx: Context) -> None:
    run_worker(ctx.infra, [])
