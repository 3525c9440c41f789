"""What notifications knows, as dataclasses and pure rules: which deliveries an event
asks for, when reminders fall due, and how long to wait before trying again.
No Flask, no Redis, no network."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

BOOKING_EVENTS = ("booking.created", "booking.cancelled", "booking.rescheduled",
                  "booking.completed", "booking.no_show")
WAITLIST_EVENTS = ("waitlist.joined", "waitlist.offered", "waitlist.accepted",
                   "waitlist.declined", "waitlist.offer_expired", "waitlist.expired",
                   "waitlist.left")
WEBHOOK_EVENTS = BOOKING_EVENTS + WAITLIST_EVENTS
CHANNELS = ("email", "webhook")
STATUSES = ("pending", "sent", "failed")
REMINDER_KINDS = ("reminder", "last_meal")
ERASED = "erased"  # what a client's personal data reads once they asked to be forgotten

# The email each event sends the customer; completed and no-show send none.
EMAIL_KINDS = {"booking.created": "confirmation", "booking.cancelled": "cancellation",
               "booking.rescheduled": "reschedule", "waitlist.offered": "waitlist_offer"}


@dataclass(frozen=True)
class BookingEvent:
    """A booking.* or waitlist.* event as notifications reads it
    (docs/internal-contracts.md). Its subject is the booking, or the waitlist entry:
    deliveries are logged under the subject's id."""

    id: str
    type: str
    occurred_at: str
    payload: dict
    correlation_id: str = ""

    @property
    def booking(self) -> dict:
        return self.payload["booking"]

    @property
    def is_waitlist(self) -> bool:
        return "entry" in self.payload

    @property
    def subject(self) -> dict:
        return self.payload["entry"] if self.is_waitlist else self.payload["booking"]

    @property
    def booking_id(self) -> str:
        """The subject's id: the booking's, or the waitlist entry's."""
        return str(self.subject["id"])

    @property
    def studio(self) -> str:
        if not self.is_waitlist:
            return self.booking["studio"]
        offer = self.subject.get("offer")
        return offer["studio"] if offer else self.subject["studios"][0]

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.booking["start"])

    @property
    def recipient(self) -> str:
        customer = self.payload["customer"] if self.is_waitlist else self.booking["customer"]
        return customer["email"]

    @property
    def erased(self) -> bool:
        """The client asked to be forgotten: nobody to email, nothing to remind."""
        return self.recipient == ERASED

    def without_client(self) -> BookingEvent:
        return replace(self, payload=erased_payload(self.payload))

    @property
    def owner(self) -> str:
        """The partner whose booking it is ("" for one made before partner accounts)."""
        return self.payload.get("owner") or ""

    @property
    def sequence(self) -> int:
        return int(self.booking.get("sequence") or 0)

    @property
    def no_food_before_min(self) -> int | None:
        return self.payload["context"]["treatment"].get("no_food_before_min")


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient or endpoint, with the record of every attempt.

    `payload` is the booking event's payload: everything needed to render or re-send
    the message later (a reminder, a retry, a redelivery) without asking anyone."""

    id: str
    booking: str
    studio: str
    channel: str
    kind: str
    target: str  # the recipient's address, or the webhook endpoint id
    event_id: str
    event_type: str
    occurred_at: str
    payload: dict
    scheduled_for: str
    correlation_id: str = ""
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    sent_at: str | None = None
    possible_duplicate: bool = False  # an attempt stopped mid-send; it may have gone out

    @property
    def due_at(self) -> float:
        return datetime.fromisoformat(self.scheduled_for).timestamp()

    @property
    def is_reminder(self) -> bool:
        return self.kind in REMINDER_KINDS

    @property
    def endpoint(self) -> str | None:
        return self.target if self.channel == "webhook" else None

    def sent(self, now: datetime) -> Delivery:
        return replace(self, status="sent", attempts=self.attempts + 1, last_error=None,
                       sent_at=now.isoformat())

    def failed(self, error: str, now: datetime, retry_in_s: float | None) -> Delivery:
        """One more failed attempt: wait `retry_in_s`, or give up when it is None."""
        attempts = self.attempts + 1
        if retry_in_s is None:
            return replace(self, status="failed", attempts=attempts, last_error=error)
        next_try = now + timedelta(seconds=retry_in_s)
        return replace(self, attempts=attempts, last_error=error,
                       scheduled_for=next_try.isoformat())

    def redelivered(self, now: datetime) -> Delivery:
        return replace(self, status="pending", scheduled_for=now.isoformat())

    def dropped(self, why: str = "the booking changed") -> Delivery:
        return replace(self, status="failed", last_error=f"dropped: {why}")

    def erased(self) -> Delivery:
        """The delivery without its client's name, email and phone: the log keeps what
        was sent when, to nobody in particular; an email not yet sent never goes."""
        target = ERASED if self.channel == "email" else self.target
        erased = replace(self, target=target, payload=erased_payload(self.payload))
        if self.channel == "email" and self.status == "pending":
            return erased.dropped("the client was erased")
        return erased


def erased_payload(payload: dict) -> dict:
    """An event's payload with the client's personal data replaced."""
    nobody = {"name": ERASED, "email": ERASED, "phone": None}
    if "entry" in payload:
        return {**payload, "customer": nobody}
    erased = {**payload, "booking": {**payload["booking"], "customer": nobody}}
    if erased.get("reason"):
        erased["reason"] = ""  # free text a partner typed: it may name the client
    return erased


@dataclass(frozen=True)
class Endpoint:
    """A partner's webhook endpoint, owned by the partner (`owner` is its id; an admin
    key's endpoint is owned by the key's id). `studios` None means every studio of the
    city (an admin's endpoint); what is stored is the scope at registration, and
    `deliveries.live_endpoints` replaces it with the owner's current scope before
    anything is planned, sent or listed."""

    id: str
    url: str
    events: tuple[str, ...]
    owner: str
    secret: str
    created_at: str
    studios: tuple[str, ...] | None = None

    def wants(self, event_type: str, studio: str, owner: str = "") -> bool:
        """An event of this type, at a studio it sees, about its owner's own booking (an
        admin's endpoint hears every studio's; a booking from before partner accounts
        has no owner and is heard by its studio's endpoints)."""
        if self.studios is None:
            return event_type in self.events
        return (event_type in self.events and studio in self.studios
                and owner in ("", self.owner))


@dataclass(frozen=True)
class Reminder:
    kind: str
    due: datetime


def delivery_id(event_id: str, channel: str, target: str, kind: str) -> str:
    """Derived, not random: the same event planned twice yields the same delivery,
    which the store creates only once."""
    digest = hashlib.sha256("|".join((event_id, channel, target, kind)).encode()).hexdigest()
    return f"ntf_{digest[:24]}"


def reminder_times(start: datetime, offsets_min: Sequence[float],
                   no_food_before_min: int | None, now: datetime) -> list[Reminder]:
    """The reminders still ahead of `now`: one per offset before the start, and the
    'last meal' one for treatments done on an empty stomach."""
    wanted = [Reminder("reminder", start - timedelta(minutes=m)) for m in offsets_min]
    if no_food_before_min:
        wanted.append(Reminder("last_meal", start - timedelta(minutes=no_food_before_min)))
    return [r for r in wanted if r.due > now]


def retry_delay(failed_attempts: int, delays_s: Sequence[float], jitter: float) -> float | None:
    """Seconds before the next try after `failed_attempts`, or None when the schedule is
    spent. `jitter` (0..1) spreads by +-20% the retries of deliveries that failed
    together, so an endpoint coming back from an outage is not hit all at once."""
    if failed_attempts < 1 or failed_attempts > len(delays_s):
        return None
    return delays_s[failed_attempts - 1] * (0.8 + 0.4 * jitter)


def plan_email(event: BookingEvent, kind: str, now: datetime) -> Delivery:
    return _delivery(event, "email", event.recipient, kind, now)


def plan_emails(event: BookingEvent, now: datetime) -> list[Delivery]:
    """The email the event sends its client, if any (EMAIL_KINDS); none to a client
    who asked to be forgotten."""
    kind = EMAIL_KINDS.get(event.type)
    return [] if kind is None or event.erased else [plan_email(event, kind, now)]


def plan_webhooks(event: BookingEvent, endpoints: Sequence[Endpoint],
                  now: datetime) -> list[Delivery]:
    return [_delivery(event, "webhook", e.id, event.type, now)
            for e in endpoints if e.wants(event.type, event.studio, event.owner)]


def plan_reminders(event: BookingEvent, offsets_min: Sequence[float],
                   now: datetime) -> list[Delivery]:
    if event.erased or event.is_waitlist:
        return []
    due = reminder_times(event.start, offsets_min, event.no_food_before_min, now)
    return [_delivery(event, "email", event.recipient, r.kind, r.due) for r in due]


def _delivery(event: BookingEvent, channel: str, target: str, kind: str,
              when: datetime) -> Delivery:
    # Reminders of one event differ only by their time, so it is part of their identity.
    identity = f"{kind}@{when.isoformat()}" if kind in REMINDER_KINDS else kind
    return Delivery(
        id=delivery_id(event.id, channel, target, identity), booking=event.booking_id,
        studio=event.studio, channel=channel, kind=kind, target=target, event_id=event.id,
        event_type=event.type, occurred_at=event.occurred_at, payload=event.payload,
        scheduled_for=when.isoformat(), correlation_id=event.correlation_id)


class DeliveryError(Exception):
    """A send that did not go through; the message is shown in the delivery log, so it
    never holds customer data (no addresses, no server replies quoting them)."""
