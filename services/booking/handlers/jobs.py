"""What the booking worker runs periodically (queues.py says how often)."""

from __future__ import annotations

from datetime import timedelta

from services.booking import saga
from services.booking.bootstrap import Context
from services.common.errors import SpaError


def relay_outbox(ctx: Context) -> None:
    """Publish committed events, oldest first. When the broker is down, publish raises
    and the events wait for the next run; a duplicate after a crash between publish
    and mark_sent is harmless (consumers dedupe by envelope id)."""
    for envelope in ctx.store.due_events():
        ctx.infra.publisher.publish(envelope)
        ctx.store.mark_sent(envelope.id)


def undo_stale_sagas(ctx: Context) -> None:
    """Sagas past their deadline belong to a request that died: roll them back."""
    for booking_id in ctx.store.stale_sagas():
        booking = ctx.store.get(booking_id)
        if booking:
            saga.undo(ctx, booking)


WORKER_RPC_TIMEOUT_S = 1.0  # the worker's jobs share a thread: none may hold it long


def retry_releases(ctx: Context) -> None:
    for hold_id in ctx.store.due_releases():
        try:
            ctx.availability.release(hold_id, WORKER_RPC_TIMEOUT_S)
        except SpaError:
            ctx.store.queue_release(hold_id, delay_s=saga.RELEASE_RETRY_S)
            return  # availability is not answering: try the rest later
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
