"""Every email states the facts a customer needs, in the studio's local time."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from services.booking.domain import CancellationTerms
from services.notifications.domain import plan_email
from services.notifications.emails import Appointment, render
from services.notifications.mail import compose
from tests.unit.notifications.samples import booking_payload, cancelled, event, rescheduled

SUMMER = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)  # 10:00 BST in London
WINTER = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 10:00 GMT
KINDS = ("confirmation", "reschedule", "cancellation", "reminder", "last_meal")


def appointment(payload: dict) -> Appointment:
    return Appointment.from_payload(payload)


@pytest.mark.parametrize("kind", KINDS)
def test_every_email_names_studio_address_treatment_therapist_time_and_price(kind):
    subject, text, html = render(kind, appointment(booking_payload(SUMMER)))
    for body in (text, html):
        assert "Triyoga Camden" in body and "57 Jamestown Road" in body
        assert "Ashiatsu" in body and "Maya" in body and "£120.00" in body
        assert "Wednesday 1 July 2026, 10:00 BST (Europe/London)" in body
    assert "Ashiatsu" in subject


def test_local_time_follows_the_studio_zone_across_dst():
    _, text, _ = render("confirmation", appointment(booking_payload(WINTER)))
    assert "Tuesday 1 December 2026, 10:00 GMT (Europe/London)" in text


@pytest.mark.parametrize("kind", ["confirmation", "reschedule", "reminder", "last_meal"])
def test_emails_before_the_visit_carry_preparation_and_aftercare(kind):
    _, text, html = render(kind, appointment(booking_payload(SUMMER)))
    for body in (text, html):
        assert "Do not eat for about 3 hours before" in body and "Wear gym clothes" in body
        assert "Drink plenty of water afterwards" in body
        assert "last meal by 07:00 BST" in body


def test_a_cancellation_gives_the_reason_and_no_preparation_advice():
    payload = cancelled(booking_payload(SUMMER), reason="feeling unwell")
    subject, text, _ = render("cancellation", appointment(payload))
    assert subject.startswith("Cancelled:")
    assert "feeling unwell" in text and "Wear gym clothes" not in text


def test_a_reschedule_says_where_the_booking_moved_from():
    moved = rescheduled(booking_payload(SUMMER), WINTER)
    _, text, _ = render("reschedule", appointment(moved))
    assert "moved from Wednesday 1 July 2026, 10:00 BST" in text
    assert "When:       Tuesday 1 December 2026, 10:00 GMT" in text


def test_the_last_meal_reminder_says_when_to_stop_eating():
    subject, text, _ = render("last_meal", appointment(booking_payload(SUMMER)))
    assert "last meal" in subject
    assert "Have your last meal by 07:00 BST, 3 hours before" in text


def test_customer_text_is_escaped_in_html():
    payload = booking_payload(SUMMER)
    payload["booking"]["customer"]["name"] = "<script>x</script>"
    _, _, html = render("confirmation", appointment(payload))
    assert "<script>" not in html and "&lt;script&gt;" in html


def email(kind: str, payload: dict) -> EmailMessage:
    delivery = plan_email(event("booking.created", payload), kind, SUMMER)
    return compose(delivery, "Spa <bookings@spa.example>")


def invite_of(message: EmailMessage) -> Calendar | None:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(parts[0].get_content()) if parts else None


def test_an_email_has_text_html_and_is_addressed_to_the_customer():
    payload = booking_payload(SUMMER, email="ada@example.com")
    message = email("confirmation", payload)
    assert message["To"] == "ada@example.com"
    types = {p.get_content_type() for p in message.walk()}
    assert {"text/plain", "text/html", "text/calendar"} <= types


def test_reminders_carry_no_invite():
    assert invite_of(email("reminder", booking_payload(SUMMER))) is None
    assert invite_of(email("confirmation", booking_payload(SUMMER))) is not None


def test_the_confirmation_lists_the_add_ons_and_states_the_policy_in_local_time():
    _, text, html = render("confirmation", appointment(booking_payload(WINTER)))
    for body in (text, html):
        assert "Aromatherapy oil" in body
        assert ("Cancelling is free until Monday 30 November 2026, 10:00 GMT "
                "(Europe/London). After that it costs £60.00, and not coming costs "
                "£120.00.") in " ".join(body.split())


def test_a_late_cancellation_states_its_fee():
    payload = booking_payload(WINTER)
    late = cancelled(payload, now=WINTER - timedelta(hours=2))
    _, text, _ = render("cancellation", appointment(late))
    assert "a late-cancellation fee of £60.00 applies" in " ".join(text.split())


def test_a_late_cancellation_without_a_late_fee_is_not_called_in_time():
    """The wording follows late_cancellation: a studio with a 0% late fee still had a
    deadline, and the client missed it."""
    free_late = CancellationTerms(24, Decimal(0), Decimal(100))
    payload = booking_payload(WINTER, terms=free_late)
    late = cancelled(payload, now=WINTER - timedelta(hours=2))
    assert late["booking"]["late_cancellation"] is True
    for body in render("cancellation", appointment(late))[1:]:
        words = " ".join(body.split())
        assert "in time" not in words and "fee of" not in words
        assert ("It was cancelled after Monday 30 November 2026, 10:00 GMT (Europe/London), "
                "the end of free cancellation, but this studio charges no late-cancellation "
                "fee: there is nothing to pay.") in words


def test_a_cancellation_in_time_says_there_is_nothing_to_pay():
    _, text, _ = render("cancellation", appointment(cancelled(booking_payload(WINTER))))
    assert "You cancelled in time: there is nothing to pay." in text
    assert "fee" not in text
