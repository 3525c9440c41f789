"""Reminder emails (T-24h, and the 'last meal' one for treatments done on an empty
stomach) as data: each is a pending delivery in the store's `due` sorted set, scored
by when it falls due, which the worker's periodic job sends (deliveries.send_due).
Being data, they survive a worker restart, and moving or dropping them is an update.

With N worker replicas a booking's events may be handled at once, in any order: the
store writes each change of its reminders in one script with the booking's state
(store.REWRITE_REMINDERS), which refuses a change older than one seen and any after
the booking ended, so no reminder outlives a cancellation.
"""

from __future__ import annotations

from services.notifications.bootstrap import Context
from services.notifications.domain import BookingEvent, plan_reminders


def schedule(ctx: Context, event: BookingEvent) -> None:
    """The reminders of a new booking (skipped if a later change was already seen)."""
    _replace(ctx, event)


def move(ctx: Context, event: BookingEvent) -> None:
    """A rescheduled booking: its pending reminders make way for the new time's."""
    _replace(ctx, event)


def drop(ctx: Context, event: BookingEvent) -> None:
    """A cancelled, completed or no-show booking: nothing left to remind of."""
    ctx.store.close_booking(event.booking_id, event.sequence)


def _replace(ctx: Context, event: BookingEvent) -> None:
    planned = plan_reminders(event, ctx.settings.reminder_offsets_min, ctx.now())
    ctx.store.schedule_reminders(event.booking_id, event.sequence, planned)
