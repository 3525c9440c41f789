"""The calendar invite (.ics) attached to confirmation, reschedule and cancellation.

Calendar apps match updates to the event they imported by UID, and take the one with
the highest SEQUENCE; so the UID is fixed per booking and SEQUENCE is the booking's
own counter (bumped on every reschedule). METHOD:CANCEL with STATUS:CANCELLED removes
the event. Times are in the studio's zone with its VTIMEZONE, so the event stays at
10:00 local even when the customer's device is elsewhere or DST changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from icalendar import Calendar, Event, vCalAddress

from services.notifications.emails import Appointment

PRODID = "-//Spa Reservations//Notifications//EN"


def invite_uid(booking_id: str) -> str:
    return f"booking-{booking_id}@spa.example"


def build_invite(appointment: Appointment, method: str, mail_from: str,
                 now: datetime | None = None) -> bytes:
    """An iCalendar document: METHOD `REQUEST` (create/update) or `CANCEL`."""
    event = Event.new(
        uid=invite_uid(appointment.booking_id), sequence=appointment.sequence,
        start=appointment.start, end=appointment.end, stamp=now or datetime.now(UTC),
        summary=f"{appointment.treatment} at {appointment.studio_name}",
        location=f"{appointment.studio_name}, {appointment.studio_address}",
        description=_description(appointment), organizer=_organizer(mail_from),
        status="CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar = Calendar.new(prodid=PRODID, method=method, subcomponents=[event])
    # The zone's rules around the event only: a short, correct VTIMEZONE.
    day = appointment.start.date()
    calendar.add_missing_timezones(first_date=day - timedelta(days=366),
                                   last_date=day + timedelta(days=366))
    return calendar.to_ical()


def _organizer(mail_from: str) -> vCalAddress:
    name, address = parseaddr(mail_from)
    organizer = vCalAddress(f"mailto:{address}")
    if name:
        organizer.params["CN"] = name
    return organizer


def _description(appointment: Appointment) -> str:
    lines = [f"Therapist: {appointment.therapist}", f"Price: {appointment.price}"]
    if appointment.preparation:
        lines += ["", "Before you come:", *(f"- {p}" for p in appointment.preparation)]
    return "\n".join(lines)
