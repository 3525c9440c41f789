"""Reminders fall due by the clock, move with the booking, and outlive the worker.
The test's clock is advanced by hours; nothing sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.integration.notifications.support import notifications_worker, publish, wait_for_mail
from tests.unit.notifications.samples import booking_payload, cancelled, envelope, rescheduled


def booked_in(clock, hours: float, **kwargs) -> dict:
    start = (clock.now() + timedelta(hours=hours)).replace(microsecond=0)
    return booking_payload(start, **kwargs)


def scheduled(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["scheduled_for"])


def start_of(payload: dict) -> datetime:
    return datetime.fromisoformat(payload["booking"]["start"])


def subjects(messages) -> list[str]:
    return [m["Subject"].split(":")[0] for m in messages]


def test_the_day_before_and_last_meal_reminders_fire_when_due(ctx, clock, worker, api,
                                                              smtp_server):
    payload = booked_in(clock, 26)
    booking, address = payload["booking"]["id"], payload["booking"]["customer"]["email"]
    publish(ctx, envelope("booking.created", payload))
    api.wait_for_entry(booking, "confirmation", "sent")
    assert scheduled(api.entry(booking, "reminder")) == start_of(payload) - timedelta(hours=24)
    assert scheduled(api.entry(booking, "last_meal")) == start_of(payload) - timedelta(hours=3)
    clock.advance(hours=2, minutes=1)
    messages = wait_for_mail(smtp_server, address, 2)
    assert subjects(messages) == ["Booked", "Reminder"]
    assert api.entry(booking, "last_meal")["status"] == "pending"
    clock.advance(hours=21)
    last = wait_for_mail(smtp_server, address, 3)[-1]
    assert last["Subject"].startswith("Time for your last meal")


def test_reminders_already_past_at_booking_time_are_not_scheduled(ctx, clock, worker, api):
    payload = booked_in(clock, 2)
    publish(ctx, envelope("booking.created", payload))
    api.wait_for_entry(payload["booking"]["id"], "confirmation", "sent")
    assert [e["kind"] for e in api.log(payload["booking"]["id"])] == ["confirmation"]


def test_a_reschedule_moves_the_pending_reminders(ctx, clock, worker, api, smtp_server):
    payload = booked_in(clock, 26)
    moved = rescheduled(payload, start_of(payload) + timedelta(days=1))
    booking = payload["booking"]["id"]
    publish(ctx, envelope("booking.created", payload), envelope("booking.rescheduled", moved))
    api.wait_for_entry(booking, "reschedule", "sent")
    assert scheduled(api.entry(booking, "reminder")) == start_of(moved) - timedelta(hours=24)
    assert scheduled(api.entry(booking, "last_meal")) == start_of(moved) - timedelta(hours=3)
    clock.advance(hours=26, minutes=1)
    reminder = wait_for_mail(smtp_server, payload["booking"]["customer"]["email"], 3)[-1]
    assert reminder["Subject"].startswith("Reminder:")
    local_start = start_of(moved).astimezone(ZoneInfo("Europe/London"))
    assert f"{local_start:%H:%M}" in reminder["Subject"]


def test_a_cancellation_drops_the_pending_reminders(ctx, clock, worker, api):
    payload = booked_in(clock, 26)
    booking = payload["booking"]["id"]
    publish(ctx, envelope("booking.created", payload),
            envelope("booking.cancelled", cancelled(payload)))
    api.wait_for_entry(booking, "cancellation", "sent")
    assert {e["kind"] for e in api.log(booking)} == {"confirmation", "cancellation"}


def test_a_late_created_event_after_the_cancellation_schedules_no_reminder(ctx, clock,
                                                                           worker, api):
    payload = booked_in(clock, 26)
    booking = payload["booking"]["id"]
    publish(ctx, envelope("booking.cancelled", cancelled(payload)),
            envelope("booking.created", payload))
    api.wait_for_entry(booking, "confirmation", "sent")
    assert api.entry(booking, "reminder") is None


def test_reminders_survive_a_worker_restart(ctx, clock, api, smtp_server):
    payload = booked_in(clock, 26, no_food_before_min=None)
    with notifications_worker(ctx):
        publish(ctx, envelope("booking.created", payload))
        api.wait_for_entry(payload["booking"]["id"], "confirmation", "sent")
    clock.advance(hours=2, minutes=1)  # due while no worker runs
    with notifications_worker(ctx):
        messages = wait_for_mail(smtp_server, payload["booking"]["customer"]["email"], 2)
    assert subjects(messages) == ["Booked", "Reminder"]
