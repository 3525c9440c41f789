"""The .ics invite imports as one event, in the studio's zone, updatable by UID."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from services.notifications.emails import Appointment
from services.notifications.invite import build_invite
from tests.unit.notifications.samples import booking_payload, rescheduled

START = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def invite(payload: dict, method: str = "REQUEST") -> Calendar:
    raw = build_invite(Appointment.from_payload(payload), method, "Spa <bookings@spa.example>")
    return Calendar.from_ical(raw)


def test_the_event_is_at_local_time_in_the_studio_zone_with_its_vtimezone():
    calendar = invite(booking_payload(START))
    event = calendar.events[0]
    assert calendar["METHOD"] == "REQUEST"
    assert event.start == datetime(2026, 7, 1, 10, 0, tzinfo=LONDON)
    assert str(event.start.tzinfo) == "Europe/London"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/London"]
    assert event.end - event.start == timedelta(minutes=60)
    assert event["SEQUENCE"] == 0 and event["STATUS"] == "CONFIRMED"


def test_the_uid_is_stable_and_the_sequence_grows_on_reschedule():
    created = booking_payload(START)
    moved = rescheduled(created, datetime(2026, 7, 2, 9, 0, tzinfo=UTC))
    first, second = invite(created).events[0], invite(moved).events[0]
    assert first["UID"] == second["UID"] == f"booking-{created['booking']['id']}@spa.example"
    assert (first["SEQUENCE"], second["SEQUENCE"]) == (0, 1)


def test_a_cancellation_is_method_cancel_with_status_cancelled():
    calendar = invite(booking_payload(START), method="CANCEL")
    assert calendar["METHOD"] == "CANCEL"
    assert calendar.events[0]["STATUS"] == "CANCELLED"


def test_the_event_says_where_and_how_to_prepare():
    event = invite(booking_payload(START)).events[0]
    assert "Triyoga Camden" in event["LOCATION"] and "57 Jamestown Road" in event["LOCATION"]
    assert "Wear gym clothes" in event["DESCRIPTION"]
    assert str(event["ORGANIZER"]) == "mailto:bookings@spa.example"
