"""What booking consumes and publishes, and the guarantee of each.

consumes  slot.released, slot.opened and our own waitlist.joined and client.erased
          (an erased client's entries leave the line), on the durable queue
          `booking.waitlist`: AT-LEAST-ONCE, acked after the handler, deduped by
          envelope id, retried then dead-lettered (services/common/bus.py). Each is news
          that time may be free for the waitlist: the studio's line is offered it. A
          handler that dies midway is run again and finds the hold it made (each offer's
          hold id is fixed by the entry), so time is never held twice for an entry.
          (Bookings themselves need no slot.* event: an expired hold is data in
          availability's ledger, and a booking whose saga died is found by
          `undo_stale_sagas` from our own keys.)
publishes booking.created, booking.cancelled, booking.rescheduled, booking.completed,
          booking.no_show, client.erased and waitlist.joined, .offered, .accepted,
          .declined, .offer_expired, .expired, .left, through the transactional outbox: each
          event is committed in the same MULTI as its state change, and `relay_outbox` publishes it
          AT-LEAST-ONCE (events wait while the broker is down; a crash between publish
          and mark-sent sends a duplicate with the same envelope id, which consumers drop).
periodic  relay_outbox (0.2 s), undo_stale_sagas, retry_releases, lapse_offers and
          expire_entries (1 s), each item claimed by one replica; offer_everywhere (the
          waitlist's safety net) and purge_old_answers (every minute, 100 clients and
          bookings a run), by one replica a minute (a lease).
"""

from __future__ import annotations

from functools import partial

from services.booking.bootstrap import Context
from services.booking.handlers import jobs as handlers
from services.booking.handlers import waitlist
from services.common import bus
from services.common.bus import Periodic
from services.common.claims import Lease
from services.common.service import run_worker

SERVICE = "booking"
WAITLIST_QUEUE = bus.event_queue("booking.waitlist",
                                 ["slot.released", "slot.opened", "waitlist.joined",
                                  "client.erased"])
QUEUES = [WAITLIST_QUEUE]
WAITLIST_EVENTS = ("waitlist.joined", "waitlist.offered", "waitlist.accepted",
                   "waitlist.declined", "waitlist.offer_expired", "waitlist.expired",
                   "waitlist.left")
PUBLISHES = ("booking.created", "booking.cancelled", "booking.rescheduled",
             "booking.completed", "booking.no_show", "client.erased", *WAITLIST_EVENTS)
WAITLIST_HANDLERS = {"slot.released": waitlist.on_time_freed,
                     "slot.opened": waitlist.on_time_opened,
                     "waitlist.joined": waitlist.on_joined,
                     "client.erased": waitlist.on_client_erased}


def jobs(ctx: Context) -> list[Periodic]:
    def relay_outbox():
        handlers.relay_outbox(ctx)

    def settle_holds():
        handlers.undo_stale_sagas(ctx)
        handlers.retry_releases(ctx)

    def settle_waitlist():
        waitlist.lapse_offers(ctx)
        waitlist.expire_entries(ctx)

    def every_minute():
        handlers.purge_old_answers(ctx)
        waitlist.offer_everywhere(ctx)

    # With N replicas: the first three claim each item they handle (an event, a saga,
    # a release, an offer, an entry); every_minute's jobs are scans, so one replica
    # runs them a minute, under a lease kept until the next minute is due.
    minute = Lease(ctx.infra.redis, ctx.store.k("lease", "every_minute"), ttl_s=55.0,
                   keep=True)
    return [Periodic(0.2, relay_outbox), Periodic(1.0, settle_holds),
            Periodic(1.0, settle_waitlist), Periodic(60.0, every_minute, lease=minute)]


def consumers(ctx: Context) -> list[bus.EventConsumer]:
    table = {name: partial(handler, ctx) for name, handler in WAITLIST_HANDLERS.items()}
    return [ctx.infra.event_consumer(SERVICE, WAITLIST_QUEUE, table)]


def run(ctx: Context) -> None:
    run_worker(ctx.infra, consumers(ctx), periodic=jobs(ctx))
