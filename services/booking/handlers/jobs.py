"""What the booking worker runs periodically (queues.py says how often)."""

from __future__ import annotations

from datetime import timedelta

from services.booking import saga
from services.booking.bootstrap import Context
from services.common.errors import SpaError

# Each job over items claims them for a lease longer than a batch takes (an RPC is at
# most rpc_timeout_s), so that of N worker replicas one handles each item; an item
# whose holder died comes due again when the lease ends (services/common/claims.py).
OUTBOX_LEASE_S = 30.0
SAGA_LEASE_S, SAGA_BATCH = 60.0, 10
RELEASE_LEASE_S, RELEASE_BATCH = 30.0, 20


def relay_outbox(ctx: Context) -> None:
    """Publish committed events, oldest first: each claimed, so one of N relays
    publishes it (order holds within a relay's batch; consumers order a booking's
    events by its `sequence`). When the broker is down, publish raises and the events
    wait for the next run; a duplicate after a crash between publish and mark_sent is
    harmless (consumers dedupe by envelope id)."""
    claimed = ctx.store.claim_events(OUTBOX_LEASE_S)
    for envelope in ctx.store.events(claimed):
        try:
            ctx.infra.publisher.publish(envelope)
        except Exception:
            ctx.store.unclaim_events(claimed)  # the next run, not the lease's end
            raise
        ctx.store.mark_sent(envelope.id)


def undo_stale_sagas(ctx: Context) -> None:
    """Sagas past their deadline belong to a request that died: roll them back. Each
    is claimed: of N replicas, one undoes it (a second undo would be refused by the
    commit's version check anyway, but would call availability again)."""
    for booking_id in ctx.store.claim_stale_sagas(SAGA_LEASE_S, SAGA_BATCH):
        booking = ctx.store.get(booking_id)
        if booking:
            saga.undo(ctx, booking)


WORKER_RPC_TIMEOUT_S = 1.0  # the worker's jobs share a thread: none may hold it long


def retry_releases(ctx: Context) -> None:
    """Releases that are due, each claimed by one of N replicas."""
    claimed = ctx.store.claim_releases(RELEASE_LEASE_S, RELEASE_BATCH)
    for hold_id in list(claimed):
        try:
            ctx.availability.release(hold_id, WORKER_RPC_TIMEOUT_S)
        except SpaError:
            ctx.store.queue_release(hold_id, delay_s=saga.RELEASE_RETRY_S)
            del claimed[hold_id]
            ctx.store.unclaim_releases(claimed)  # availability is not answering: later
            return
        ctx.store.released(hold_id)


def purge_old_answers(ctx: Context) -> int:
    """Health answers are kept no longer than needed: those given more than the
    retention period ago go, from client records and from the bookings screened on
    them (whose screening outcome stays). A booking may have been screened on answers
    given up to the validity period before it was made, so its answers go that much
    earlier. Returns how many went."""
    settings, now = ctx.infra.settings, ctx.clock.now()
    cutoff = now - timedelta(days=settings.intake_retention_days)
    purged = ctx.clients.purge_intakes_before(cutoff)
    booked_before = cutoff + timedelta(days=settings.intake_valid_days)
    for booking_id in ctx.store.answers_older_than(booked_before):
        if (booking := ctx.store.get(booking_id)) and booking.screening.declared:
            purged += bool(saga.forget_answers(ctx, booking))
    return purged
