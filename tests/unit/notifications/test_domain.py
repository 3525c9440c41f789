"""The pure rules: when reminders fall due, how retries back off, who gets what."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain import (
    Endpoint,
    plan_email,
    plan_emails,
    plan_reminders,
    plan_webhooks,
    reminder_times,
    retry_delay,
)
from tests.unit.notifications.samples import booking_payload, event

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
DAY = 24 * 60


def kinds_and_times(reminders):
    return [(r.kind, r.due) for r in reminders]


def test_a_booking_days_ahead_gets_the_day_before_and_the_last_meal_reminders():
    now = START - timedelta(days=3)
    due = reminder_times(START, [DAY], 180, now)
    assert kinds_and_times(due) == [("reminder", START - timedelta(hours=24)),
                                    ("last_meal", START - timedelta(hours=3))]


def test_a_treatment_without_fasting_gets_no_last_meal_reminder():
    due = reminder_times(START, [DAY], None, START - timedelta(days=3))
    assert [r.kind for r in due] == ["reminder"]


def test_reminders_already_past_at_booking_time_are_skipped():
    booked_five_hours_ahead = START - timedelta(hours=5)
    due = reminder_times(START, [DAY], 180, booked_five_hours_ahead)
    assert kinds_and_times(due) == [("last_meal", START - timedelta(hours=3))]
    assert reminder_times(START, [DAY], 180, START - timedelta(hours=2)) == []


def test_a_reminder_due_exactly_now_is_past():
    assert reminder_times(START, [DAY], None, START - timedelta(hours=24)) == []


def test_every_configured_offset_is_a_reminder_of_its_own():
    due = reminder_times(START, [DAY, 60], None, START - timedelta(days=2))
    assert [r.due for r in due] == [START - timedelta(days=1), START - timedelta(hours=1)]


def test_retries_follow_the_configured_schedule_within_twenty_percent():
    delays = (5.0, 30.0, 120.0)
    assert [retry_delay(n, delays, jitter=0.5) for n in (1, 2, 3)] == [5.0, 30.0, 120.0]
    assert retry_delay(1, delays, jitter=0.0) == pytest.approx(4.0)
    assert retry_delay(2, delays, jitter=0.999) == pytest.approx(36.0, abs=0.1)


def test_after_the_last_delay_there_is_no_retry():
    assert retry_delay(4, (5.0, 30.0, 120.0), jitter=0.5) is None
    assert retry_delay(1, (), jitter=0.5) is None


def test_planning_the_same_event_twice_plans_the_same_deliveries():
    created = event("booking.created", booking_payload())
    now = datetime.now(UTC)
    assert plan_email(created, "confirmation", now).id == plan_email(created, "confirmation",
                                                                     now).id
    assert len({d.id for d in plan_reminders(created, [DAY, 60], now)}) == 3


def endpoint(studios, events=("booking.created",)):
    return Endpoint(id=f"wh_{studios}", url="https://partner.example/hooks",
                    events=tuple(events), owner="p", secret="whsec_x", created_at="",
                    studios=studios)


def test_a_partner_endpoint_gets_only_its_studios_events_and_an_admin_one_gets_all():
    islington = event("booking.created", booking_payload(studio="islington"))
    endpoints = [endpoint(("camden",)), endpoint(None), endpoint(("islington", "camden"))]
    planned = plan_webhooks(islington, endpoints, datetime.now(UTC))
    assert [d.target for d in planned] == ["wh_None", "wh_('islington', 'camden')"]


def test_an_endpoint_gets_only_the_event_types_it_chose():
    cancelled = event("booking.cancelled", booking_payload())
    planned = plan_webhooks(cancelled, [endpoint(None, ["booking.created"])],
                            datetime.now(UTC))
    assert planned == []


def test_a_failed_attempt_is_retried_later_then_given_up():
    delivery = plan_email(event("booking.created", booking_payload()), "confirmation",
                          START)
    retried = delivery.failed("HTTP 500", START, 30.0)
    assert (retried.status, retried.attempts) == ("pending", 1)
    assert retried.scheduled_for == (START + timedelta(seconds=30)).isoformat()
    given_up = retried.failed("HTTP 500", START, None)
    assert (given_up.status, given_up.attempts, given_up.last_error) == ("failed", 2,
                                                                         "HTTP 500")


def test_an_erased_delivery_keeps_its_facts_and_loses_the_person():
    sent = plan_email(event("booking.created", booking_payload(email="x@example.com")),
                      "confirmation", datetime(2027, 3, 1, tzinfo=UTC)).sent(
        datetime(2027, 3, 1, tzinfo=UTC))
    erased = sent.erased()
    assert (erased.status, erased.sent_at, erased.kind) == ("sent", sent.sent_at, sent.kind)
    assert erased.target == "erased" and "x@example.com" not in str(erased)
    assert erased.payload["booking"]["customer"] == {"name": "erased", "email": "erased",
                                                     "phone": None}


def test_an_email_not_yet_sent_to_an_erased_client_never_goes():
    pending = plan_email(event("booking.created", booking_payload()), "reminder",
                         datetime(2027, 3, 1, tzinfo=UTC))
    dropped = pending.erased()
    assert (dropped.status, dropped.last_error) == ("failed", "dropped: the client was erased")


def test_an_erased_clients_event_plans_no_email_and_no_reminder():
    erased = event("booking.created", booking_payload()).without_client()
    assert erased.erased
    assert plan_emails(erased, datetime(2027, 3, 1, tzinfo=UTC)) == []
    assert plan_reminders(erased, [24 * 60], datetime(2027, 3, 1, tzinfo=UTC)) == []
