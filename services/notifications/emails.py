"""What the customer reads: the facts of an appointment, rendered from Jinja2
templates (templates/<kind>.txt and .html)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

CURRENCY_SIGNS = {"GBP": "£", "USD": "$", "EUR": "€"}

SUBJECTS = {
    "confirmation": "Booked: {treatment} at {studio}, {when}",
    "reschedule": "Moved: {treatment} at {studio}, now {when}",
    "cancellation": "Cancelled: {treatment} at {studio}, {when}",
    "reminder": "Reminder: {treatment} at {studio}, {when}",
    "last_meal": "Time for your last meal before {treatment} on {when}",
    "waitlist_offer": "A time for you: {treatment} at {studio}, {when}",
}


@dataclass(frozen=True)
class Appointment:
    """The facts every email states, with times already in the studio's zone."""

    booking_id: str
    customer_name: str
    studio_name: str
    studio_address: str
    treatment: str
    therapist: str
    duration_min: int
    start: datetime
    end: datetime
    price: str
    preparation: tuple[str, ...]
    aftercare: tuple[str, ...]
    no_food_before_min: int | None
    sequence: int
    previous_start: datetime | None = None
    reason: str = ""
    late_cancellation: bool = False
    addons: tuple[str, ...] = ()  # their names
    free_cancellation_until: datetime | None = None
    late_fee: str = ""
    no_show_fee: str = ""
    fee: str = ""  # what the cancellation costs; "" when nothing
    offer_expires_at: datetime | None = None  # a waitlist offer: accept before this

    @classmethod
    def from_payload(cls, payload: dict) -> Appointment:
        if "entry" in payload:
            return cls.from_offer(payload)
        booking, context = payload["booking"], payload["context"]
        zone = ZoneInfo(context["studio"]["timezone"])
        previous = payload.get("previous") or {}
        return cls(
            booking_id=str(booking["id"]), customer_name=booking["customer"]["name"],
            studio_name=context["studio"]["name"],
            studio_address=str(context["studio"].get("address") or ""),
            treatment=context["treatment"]["name"], therapist=context["therapist"]["name"],
            duration_min=int(booking["duration"]), start=_local(booking["start"], zone),
            end=_local(booking["end"], zone), price=money(booking["price"]),
            preparation=tuple(context["treatment"].get("preparation") or ()),
            aftercare=tuple(context["treatment"].get("aftercare") or ()),
            no_food_before_min=context["treatment"].get("no_food_before_min"),
            sequence=int(booking.get("sequence") or 0),
            previous_start=_local(previous["start"], zone) if previous.get("start") else None,
            reason=payload.get("reason") or "",
            late_cancellation=bool(booking.get("late_cancellation")),
            addons=tuple(a["name"] for a in context.get("addons") or ()),
            **policy_facts(booking.get("policy"), booking.get("fee"), zone))

    @classmethod
    def from_offer(cls, payload: dict) -> Appointment:
        """A waitlist offer: time held for the client, theirs if they accept in time."""
        entry, context = payload["entry"], payload["context"]
        offer, zone = entry["offer"], ZoneInfo(context["studio"]["timezone"])
        return cls(
            booking_id=str(entry["id"]), customer_name=payload["customer"]["name"],
            studio_name=context["studio"]["name"],
            studio_address=str(context["studio"].get("address") or ""),
            treatment=context["treatment"]["name"],
            therapist=(context.get("therapist") or {}).get("name", ""),
            duration_min=int(entry["duration"]), start=_local(offer["start"], zone),
            end=_local(offer["end"], zone), price=money(offer["price"]), preparation=(),
            aftercare=(), no_food_before_min=None, sequence=0,
            offer_expires_at=_local(offer["expires_at"], zone))

    @property
    def last_meal_at(self) -> datetime | None:
        if not self.no_food_before_min:
            return None
        return self.start - timedelta(minutes=self.no_food_before_min)


def policy_facts(policy: dict | None, fee: dict | None, zone: ZoneInfo) -> dict:
    """What the emails say of the cancellation policy (events before policies have none)."""
    facts: dict = {"fee": money(fee) if fee and Decimal(fee["amount"]) else ""}
    if policy:
        facts |= {"free_cancellation_until": _local(policy["free_cancellation_until"], zone),
                  "late_fee": money(policy["late_fee"]),
                  "no_show_fee": money(policy["no_show_fee"])}
    return facts


def _local(instant: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(instant).astimezone(zone)


def money(price: dict) -> str:
    sign = CURRENCY_SIGNS.get(price["currency"])
    return f"{sign}{price['amount']}" if sign else f"{price['amount']} {price['currency']}"


def local_time(moment: datetime) -> str:
    """'Tuesday 1 December 2026, 10:00 GMT (Europe/London)': the zone is said twice
    because an abbreviation alone (BST, CST) is ambiguous."""
    return f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M %Z} ({moment.tzinfo})"


def clock_time(moment: datetime) -> str:
    return f"{moment:%H:%M %Z}"


def span(minutes: int) -> str:
    """180 -> '3 hours', 90 -> '1 h 30 min'."""
    hours, rest = divmod(int(minutes), 60)
    if not rest:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours} h {rest} min" if hours else f"{rest} min"


@cache
def templates() -> Environment:
    env = Environment(loader=PackageLoader("services.notifications", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(local_time=local_time, clock_time=clock_time, span=span)
    return env


def render(kind: str, appointment: Appointment) -> tuple[str, str, str]:
    """(subject, plain text, html) of the email of `kind`."""
    subject = SUBJECTS[kind].format(treatment=appointment.treatment,
                                    studio=appointment.studio_name,
                                    when=local_time(appointment.start))
    text = templates().get_template(f"{kind}.txt").render(a=appointment)
    html = templates().get_template(f"{kind}.html").render(a=appointment)
    return subject, text, html
