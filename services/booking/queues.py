"""What booking consumes and publishes, and the guarantee of each.

consumes  nothing. `slot.*` would only tell us about holds, and an expired hold needs
          no event: its expiry is data in availability's ledger, and a booking whose
          saga died is found by `undo_stale_sagas` from our own keys.
publishes booking.created, booking.cancelled, booking.rescheduled, booking.completed,
          booking.no_show and client.erased, through the transactional outbox: each
          event is committed in the same MULTI as its state change, and `relay_outbox` publishes it
          AT-LEAST-ONCE (events wait while the broker is down; a crash between publish
          and mark-sent sends a duplicate with the same envelope id, which consumers drop).
periodic  relay_outbox (0.2 s), undo_stale_sagas and retry_releases (1 s),
          purge_old_answers (every minute, 100 clients and bookings a run).
"""

from __future__ import annotations

from services.booking.bootstrap import Context
from services.booking.handlers import jobs as handlers
from services.common.bus import Periodic
from services.common.service import run_worker

SERVICE = "booking"
QUEUES: list = []
PUBLISHES = ("booking.created", "booking.cancelled", "booking.rescheduled",
             "booking.completed", "booking.no_show", "client.erased")


def jobs(ctx: Context) -> list[Periodic]:
    def relay_outbox():
        handlers.relay_outbox(ctx)

    def settle_holds():
        handlers.undo_stale_sagas(ctx)
        handlers.retry_releases(ctx)

    def purge_old_answers():
        handlers.purge_old_answers(ctx)

    return [Periodic(0.2, relay_outbox), Periodic(1.0, settle_holds),
            Periodic(60.0, purge_old_answers)]


def run(ctx: Context) -> None:
    run_worker(ctx.infra, [], periodic=jobs(ctx))
