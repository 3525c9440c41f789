"""Reminder emails (T-24h, and the 'last meal' one for treatments done on an empty
stomach) as data: each is a pending delivery in the store's `due` sorted set, scored
by when it falls due, which the worker's periodic job sends (deliveries.send_due).
Being data, they survive a worker restart, and moving or dropping them is an update.
"""

from __future__ import annotations

from services.notifications.bootstrap import Context
from services.notifications.domain import BookingEvent, plan_reminders


def schedule(ctx: Context, event: BookingEvent) -> None:
    """The reminders of a new booking (skipped if a later change was already seen)."""
    if ctx.store.advance_booking(event.booking_id, event.sequence):
        _create(ctx, event)


def move(ctx: Context, event: BookingEvent) -> None:
    """A rescheduled booking: its pending reminders make way for the new time's."""
    if ctx.store.advance_booking(event.booking_id, event.sequence):
        _drop_pending(ctx, event.booking_id)
        _create(ctx, event)


def drop(ctx: Context, event: BookingEvent) -> None:
    """A cancelled, completed or no-show booking: nothing left to remind of."""
    ctx.store.close_booking(event.booking_id)
    _drop_pending(ctx, event.booking_id)


def _create(ctx: Context, event: BookingEvent) -> None:
    ctx.store.create(*plan_reminders(event, ctx.settings.reminder_offsets_min, ctx.now()))


def _drop_pending(ctx: Context, booking_id: str) -> None:
    for delivery in ctx.store.for_booking(booking_id):
        if not delivery.is_reminder or delivery.status != "pending":
            continue
        if delivery.attempts:  # tried already: keep the attempts in the log
            ctx.store.save(delivery.dropped())
        else:
            ctx.store.delete(delivery)
