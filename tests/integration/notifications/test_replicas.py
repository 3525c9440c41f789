"""Two notifications workers handling one booking's events at once: the store's
scripts close the reminder/cancel race (a reschedule handled after a cancellation on
another replica leaves no reminder), refuse stale changes, and a reminder of a booking
closed before its send was claimed never goes."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from services.common.service import Infra
from services.notifications import deliveries, reminders
from services.notifications.bootstrap import bootstrap
from services.notifications.domain import plan_reminders
from tests.unit.notifications.samples import booking_payload, cancelled, event, rescheduled


def booked(clock, days: float = 3) -> dict:
    return booking_payload((clock.now() + timedelta(days=days)).replace(microsecond=0))


def moved(payload: dict, hours: float = 2) -> dict:
    start = datetime.fromisoformat(payload["booking"]["start"])
    return rescheduled(payload, start + timedelta(hours=hours))


def pending_reminders(ctx, booking_id: str) -> list:
    return [d for d in ctx.store.for_booking(booking_id)
            if d.is_reminder and d.status == "pending"]


def scheduled_ids(ctx) -> set[str]:
    """Every delivery the worker will send (the store's `due` set)."""
    return set(ctx.store.redis.zrange(ctx.store.k("due"), 0, -1))


def replica(notifications_settings, clock):
    """Another worker process: its own connections, the same Redis."""
    return bootstrap(Infra.from_settings(notifications_settings), clock)


def test_a_reschedule_after_a_cancellation_on_another_replica_schedules_nothing(
        ctx, clock, notifications_settings, monkeypatch):
    """The reschedule's replica has read the reminders it replaces when the other
    replica cancels: its script finds the booking closed and writes nothing."""
    payload = booked(clock)
    booking = payload["booking"]["id"]
    reminders.schedule(ctx, event("booking.created", payload))
    assert len(pending_reminders(ctx, booking)) == 2
    other = replica(notifications_settings, clock)
    read = ctx.store._scheduled_reminders

    def read_then_the_cancel_lands(booking_id):
        found = read(booking_id)
        reminders.drop(other, event("booking.cancelled", cancelled(payload)))
        return found

    monkeypatch.setattr(ctx.store, "_scheduled_reminders", read_then_the_cancel_lands)
    reminders.move(ctx, event("booking.rescheduled", moved(payload)))
    assert pending_reminders(ctx, booking) == []
    assert not any(d.booking == booking for d in map(ctx.store.get, scheduled_ids(ctx)) if d)


def test_a_cancellation_that_read_before_a_reschedule_drops_the_new_reminders_too(
        ctx, clock, notifications_settings, monkeypatch):
    """The cancel's replica read the old reminders; the reschedule lands before its
    script: the script sees the reminders changed, reads again, and drops them all."""
    payload = booked(clock)
    booking = payload["booking"]["id"]
    reminders.schedule(ctx, event("booking.created", payload))
    other = replica(notifications_settings, clock)
    read = ctx.store._scheduled_reminders
    reads = []

    def read_then_the_reschedule_lands(booking_id):
        found = read(booking_id)
        if not reads:
            reminders.move(other, event("booking.rescheduled", moved(payload)))
        reads.append(found)
        return found

    monkeypatch.setattr(ctx.store, "_scheduled_reminders", read_then_the_reschedule_lands)
    reminders.drop(ctx, event("booking.cancelled", cancelled(payload)))
    assert len(reads) == 2  # read again after the script said the reminders changed
    assert pending_reminders(ctx, booking) == []
    assert ctx.store.redis.smembers(ctx.store._reminders(booking)) == set()


def test_two_replicas_racing_reschedules_and_cancellations_leave_no_reminder(
        ctx, clock, notifications_settings):
    replicas = [ctx, replica(notifications_settings, clock)]
    payloads = [booked(clock) for _ in range(40)]
    for payload in payloads:
        reminders.schedule(ctx, event("booking.created", payload))
    changes = [(event("booking.rescheduled", moved(p)), event("booking.cancelled", cancelled(p)))
               for p in payloads]
    start = threading.Barrier(2)

    def run(n: int) -> None:
        start.wait()
        for move, cancel in changes:
            if n == 0:
                reminders.move(replicas[0], move)
            else:
                reminders.drop(replicas[1], cancel)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for payload in payloads:
        assert pending_reminders(ctx, payload["booking"]["id"]) == []
    assert scheduled_ids(ctx) == set()


def test_a_change_older_than_one_seen_schedules_nothing(ctx, clock):
    payload = booked(clock)
    later = moved(payload)
    booking = payload["booking"]["id"]
    reminders.move(ctx, event("booking.rescheduled", later))  # sequence 1, handled first
    wanted = {d.scheduled_for for d in pending_reminders(ctx, booking)}
    reminders.schedule(ctx, event("booking.created", payload))  # sequence 0: stale
    assert {d.scheduled_for for d in pending_reminders(ctx, booking)} == wanted
    assert len(wanted) == 2


def test_a_reminder_of_a_booking_closed_before_its_claim_is_never_sent(ctx, clock):
    """A send claimed before the cancellation may finish; one that failed and would be
    retried is not claimed again once the booking is closed."""
    payload = booked(clock, days=1.5)
    booking = payload["booking"]["id"]
    reminders.schedule(ctx, event("booking.created", payload))
    clock.advance(hours=13)  # the day-before reminder is due
    [reminder] = [d for d in pending_reminders(ctx, booking) if d.kind == "reminder"]
    claimed, _ = ctx.store.claim(reminder.id, clock.now().timestamp(), 60)
    reminders.drop(ctx, event("booking.cancelled", cancelled(payload)))
    ctx.store.save(claimed.failed("smtp timeout", clock.now(), 0.0))  # still pending
    assert ctx.store.claim(reminder.id, clock.now().timestamp() + 1, 60) is None
    assert deliveries.attempt(ctx, reminder.id) is None
    assert reminder.id not in scheduled_ids(ctx)


def test_a_reminder_scheduled_before_replicas_is_dropped_by_the_cancellation(ctx, clock):
    """Reminders written by a version that kept no set of them are found in the log."""
    payload = booked(clock)
    booking = payload["booking"]["id"]
    ctx.store.create(*plan_reminders(event("booking.created", payload), (1440,), clock.now()))
    assert len(pending_reminders(ctx, booking)) == 2  # the day before, and the last meal
    assert ctx.store.redis.smembers(ctx.store._reminders(booking)) == set()
    reminders.drop(ctx, event("booking.cancelled", cancelled(payload)))
    assert pending_reminders(ctx, booking) == []
    assert scheduled_ids(ctx) == set()


def claimed_reminder(ctx, clock, payload: dict):
    """The booking's 24-hour reminder, scheduled, then due and claimed by a worker."""
    reminders.schedule(ctx, event("booking.created", payload))
    clock.advance(hours=13)
    [reminder] = [d for d in pending_reminders(ctx, payload["booking"]["id"])
                  if d.kind == "reminder"]
    claimed, _ = ctx.store.claim(reminder.id, clock.now().timestamp(), 60)
    return claimed


def test_a_tried_reminder_stays_in_the_log_as_dropped(ctx, clock):
    payload = booked(clock, days=1.5)
    booking = payload["booking"]["id"]
    reminder = claimed_reminder(ctx, clock, payload)
    ctx.store.save(reminder.failed("smtp timeout", clock.now(), 600.0))
    reminders.drop(ctx, event("booking.cancelled", cancelled(payload)))
    kept = ctx.store.get(reminder.id)
    assert (kept.status, kept.attempts, kept.last_error) == ("failed", 1,
                                                             "dropped: the booking changed")
    assert pending_reminders(ctx, booking) == []


def test_a_sent_reminder_stays_sent_when_the_booking_is_cancelled(ctx, clock):
    payload = booked(clock, days=1.5)
    booking = payload["booking"]["id"]
    reminder = claimed_reminder(ctx, clock, payload)
    ctx.store.save(reminder.sent(clock.now()))
    reminders.drop(ctx, event("booking.cancelled", cancelled(payload)))
    assert ctx.store.get(reminder.id).status == "sent"
    assert pending_reminders(ctx, booking) == []  # the last-meal one went
    assert ctx.store.redis.smembers(ctx.store._reminders(booking)) == set()


def test_an_event_handled_again_keeps_its_reminders_and_does_not_fail(ctx, clock):
    """A worker that died after the script but before marking the event done: the
    redelivered event finds its own reminders scheduled, and leaves them as they are."""
    payload = booked(clock)
    booking = payload["booking"]["id"]
    created = event("booking.created", payload)
    reminders.schedule(ctx, created)
    first = {d.id for d in pending_reminders(ctx, booking)}
    reminders.schedule(ctx, created)  # the same envelope again
    assert {d.id for d in pending_reminders(ctx, booking)} == first and len(first) == 2
    assert first <= scheduled_ids(ctx)
