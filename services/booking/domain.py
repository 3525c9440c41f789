"""Bookings as data, and the rules that decide what may happen to one.

Pure: no Flask, no Redis, no clock (callers pass `now`), so each rule is tested alone.
Refusals are `services.common.errors`, which carry a code and no HTTP status.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from services.common.errors import Contraindicated, IntakeRequired, InvalidTransition
from services.common.money import Money

# `pending` (stored, hold not yet confirmed) and `failed` (confirm refused or the
# saga abandoned) are the saga's own states: partners only ever see VISIBLE ones.
VISIBLE = ("confirmed", "cancelled", "completed", "no_show")
TRANSITIONS = {
    "pending": ("confirmed", "failed"),
    "confirmed": ("cancelled", "completed", "no_show"),
}

# Bump when the screening rules change: each booking records the version that let it
# through, so a later audit knows which rules were applied.
RULE_VERSION = "contraindications-1"
# Catalog contraindication -> the intake flag that declares it.
INTAKE_FLAGS = {"pregnancy": "pregnant", "recent_surgery": "recent_surgery",
                "recent_injury": "recent_injury"}


@dataclass(frozen=True)
class Named:
    id: str
    name: str


@dataclass(frozen=True)
class StudioFacts:
    """A studio as availability describes it: what events and emails say of it."""

    id: str
    name: str
    address: str
    timezone: str


@dataclass(frozen=True)
class CancellationTerms:
    """The studio's cancellation policy when the time was held: a booking keeps it,
    whatever the studio changes later."""

    free_until_h: int = 24
    late_fee_percent: Decimal = Decimal(0)
    no_show_fee_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class Policy:
    """What cancelling costs, for one booking: free until `free_cancellation_until`
    (included), `late_fee` after it, `no_show_fee` when the client does not come."""

    free_cancellation_until: datetime
    late_fee: Money
    no_show_fee: Money

    def fee_to_cancel(self, now: datetime) -> Money:
        return self.late_fee if now > self.free_cancellation_until else self.late_fee.share(0)


@dataclass(frozen=True)
class TreatmentFacts:
    """A treatment as availability describes it: what screening and emails need."""

    id: str
    name: str
    contraindications: tuple[str, ...] = ()
    intake_required: bool = False
    preparation: tuple[str, ...] = ()
    aftercare: tuple[str, ...] = ()
    no_food_before_min: int | None = None
    durations: tuple[int, ...] = ()  # the lengths it is given in, minutes


@dataclass(frozen=True)
class Description:
    """Availability's answer to `describe`: a treatment at a studio, and the other
    treatments there that share none of its contraindications."""

    studio: StudioFacts
    treatment: TreatmentFacts
    alternatives: tuple[Named, ...] = ()
    max_advance_days: int = 365  # the booking horizon of the treatment at the studio

    def latest_start(self, now: datetime) -> datetime:
        return now + timedelta(days=self.max_advance_days)


PRESSURES = ("light", "medium", "firm", "deep")
ERASED = "erased"  # what a client's personal data reads once they asked to be forgotten


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True)
class Intake:
    """A client's health answers (special-category data: sealed at rest, never in an
    event, a webhook or a log), and the pressure they like."""

    pregnant: bool
    recent_surgery: bool
    recent_injury: bool
    pressure: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Screening:
    """What the client declared, and which version of the rules accepted it. The
    answers go once they are older than the retention period; the outcome stays."""

    declared: Intake | None
    rule_version: str = RULE_VERSION
    outcome: str = "cleared"  # cleared: answers screened; not_required: no intake needed


@dataclass(frozen=True)
class Preferences:
    """What a client likes, filled in where a request leaves it out."""

    pressure: str | None = None
    therapist: str | None = None
    therapist_gender: str | None = None
    notes: str | None = None  # free text: sealed at rest


@dataclass(frozen=True)
class Client:
    """A partner's client, booked again and again. `owner` is the partner (or the admin
    key) that made the record; nobody else sees it."""

    id: str
    owner: str
    name: str
    email: str
    phone: str | None = None
    preferences: Preferences = field(default_factory=Preferences)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def customer(self) -> Customer:
        return Customer(self.name, self.email, self.phone)


@dataclass(frozen=True)
class IntakeRecord:
    """Health answers a client gave, and when: a booking may rely on the latest while
    it is younger than the validity period."""

    answers: Intake
    recorded_at: datetime


def intake_on_record(records: list[IntakeRecord], now: datetime,
                     valid_days: int) -> Intake:
    """The latest answers, while younger than `valid_days`; else why the intake is
    needed."""
    if not records:
        raise IntakeRequired("no intake is on record for this client", reason="missing")
    latest = max(records, key=lambda record: record.recorded_at)
    if now - latest.recorded_at >= timedelta(days=valid_days):
        raise IntakeRequired(f"the client's intake is older than {valid_days} days",
                             reason="expired")
    return latest.answers


@dataclass(frozen=True)
class Hold:
    """Therapist and room time that availability set aside for us until `expires_at`."""

    id: str
    studio: str
    treatment: str
    duration: int
    start: datetime
    end: datetime
    therapist: Named
    room: Named
    price: dict  # the total, add-ons included
    expires_at: datetime | None  # None once confirmed
    addons: tuple[str, ...] = ()
    price_breakdown: dict | None = None  # {treatment, addons: [{id, name, price}], total}
    terms: CancellationTerms = field(default_factory=CancellationTerms)
    owner: str = ""  # the partner (or admin key) whose hold it is; "" for a saga's own
    therapist_gender: str | None = None  # the gender the hold asked for

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class Booking:
    id: str
    status: str
    studio: str
    treatment: str
    duration: int
    start: datetime
    end: datetime
    therapist: str
    room: str
    price: dict  # the total, add-ons included
    customer: Customer
    screening: Screening
    hold_id: str
    context: dict  # names and texts every event carries (see docs/internal-contracts.md)
    created_at: datetime
    updated_at: datetime
    addons: tuple[str, ...] = ()
    price_breakdown: dict | None = None
    terms: CancellationTerms = field(default_factory=CancellationTerms)
    fee: dict | None = None  # what a late cancellation or a no-show costs, once it happened
    therapist_gender: str | None = None  # the gender asked for: a reschedule keeps it
    late_cancellation: bool = False
    cancel_reason: str = ""
    client: str | None = None  # the client record it was made for
    owner: str = ""  # the partner (or admin key) that made it
    sequence: int = 0  # +1 on every reschedule, so consumers can order versions
    next_hold: str | None = None  # a reschedule's new hold, until it is confirmed
    version: int = 0  # the store's compare-and-set counter

    @property
    def visible(self) -> bool:
        return self.status in VISIBLE

    @property
    def policy(self) -> Policy:
        """The terms it was booked under, in instants and money: the deadline moves with
        the start (a reschedule keeps the terms), the fees are shares of the total."""
        total, terms = Money.from_json(self.price), self.terms
        return Policy(self.start - timedelta(hours=terms.free_until_h),
                      total.share(terms.late_fee_percent),
                      total.share(terms.no_show_fee_percent))


def needs_intake(described: Description) -> bool:
    return described.treatment.intake_required or bool(described.treatment.contraindications)


def screen(intake: Intake | None, described: Description) -> Screening:
    """Refuse a treatment the client declared a contraindication for, naming the
    safe alternatives; ask for the intake where the treatment needs one."""
    treatment = described.treatment
    if intake is None:
        if needs_intake(described):
            raise IntakeRequired(f"{treatment.name} needs the client's intake",
                                 reason="missing")
        return Screening(None, outcome="not_required")
    if reasons := declared_contraindications(intake, treatment.contraindications):
        raise Contraindicated(f"{treatment.name} is not safe with: {', '.join(reasons)}",
                              reasons, [a.id for a in described.alternatives])
    return Screening(intake)


def declared_contraindications(intake: Intake,
                               contraindications: tuple[str, ...]) -> tuple[str, ...]:
    """The treatment's contraindications the intake declares. A catalog name without an
    intake flag cannot be declared, so it cannot refuse a booking."""
    return tuple(name for name in contraindications
                 if name in INTAKE_FLAGS and getattr(intake, INTAKE_FLAGS[name]))


def new_booking(booking_id: str, hold: Hold, customer: Customer, screening: Screening,
                described: Description, now: datetime) -> Booking:
    """A pending booking for `hold`."""
    return Booking(
        id=booking_id, status="pending", studio=hold.studio, treatment=hold.treatment,
        duration=hold.duration, start=hold.start, end=hold.end, therapist=hold.therapist.id,
        room=hold.room.id, price=hold.price, customer=customer, screening=screening,
        hold_id=hold.id, context=event_context(described, hold), addons=hold.addons,
        price_breakdown=hold.price_breakdown, terms=hold.terms,
        therapist_gender=hold.therapist_gender, created_at=now, updated_at=now)


def pending_booking(booking_id: str, wanted, hold_id: str, customer: Customer,
                    screening: Screening, now: datetime) -> Booking:
    """A booking about to reserve its time (`wanted`, a SlotRequest) under `hold_id`:
    the trace from which a reply that never comes is recovered (undo releases the
    hold id). Therapist, room and price come with the reservation (`reserved`)."""
    return Booking(
        id=booking_id, status="pending", studio=wanted.studio, treatment=wanted.treatment,
        duration=wanted.duration, start=wanted.start,
        end=wanted.start + timedelta(minutes=wanted.duration),
        therapist=wanted.therapist or "", room="", price={}, customer=customer,
        screening=screening, hold_id=hold_id, context={}, addons=wanted.addons,
        therapist_gender=wanted.therapist_gender, created_at=now, updated_at=now)


def reserved(pending: Booking, hold: Hold, described: Description, now: datetime) -> Booking:
    """The pending booking, confirmed with the time availability reserved for it."""
    booked = replace(new_booking(pending.id, hold, pending.customer, pending.screening,
                                 described, pending.created_at),
                     client=pending.client, owner=pending.owner, version=pending.version,
                     therapist_gender=pending.therapist_gender)
    return transition(booked, "confirmed", now)


def event_context(described: Description, hold: Hold) -> dict:
    """The names and texts every event of the booking carries, so that consumers
    need not ask availability (docs/internal-contracts.md)."""
    studio, treatment = described.studio, described.treatment
    return {
        "studio": {"id": studio.id, "name": studio.name, "address": studio.address,
                   "timezone": studio.timezone},
        "treatment": {"id": treatment.id, "name": treatment.name,
                      "preparation": list(treatment.preparation),
                      "aftercare": list(treatment.aftercare),
                      "no_food_before_min": treatment.no_food_before_min},
        "therapist": _named(hold.therapist), "room": _named(hold.room),
        "addons": [{"id": a["id"], "name": a["name"]}
                   for a in (hold.price_breakdown or {}).get("addons", [])],
    }


def _named(item: Named) -> dict:
    return {"id": item.id, "name": item.name}


def erase_customer(booking: Booking) -> Booking:
    """The booking once its client asked to be forgotten: no name, email, phone, health
    answers or free text; times, prices and fees stay, for the ledger and accounts."""
    return replace(booking, customer=Customer(ERASED, ERASED, None), cancel_reason="",
                   screening=replace(booking.screening, declared=None))


def with_preferences(wanted, preferences: Preferences):
    """A slot request with the client's preferences where it said nothing."""
    gender = wanted.therapist_gender or preferences.therapist_gender
    return replace(wanted, therapist_gender=gender)


def transition(booking: Booking, to: str, now: datetime) -> Booking:
    if to not in TRANSITIONS.get(booking.status, ()):
        raise InvalidTransition.between(booking.status, to)
    return replace(booking, status=to, updated_at=now)


def cancel(booking: Booking, now: datetime, reason: str = "") -> Booking:
    """Cancelled, with the fee its policy gives (zero until the free deadline)."""
    cancelled = transition(booking, "cancelled", now)
    late = now > booking.policy.free_cancellation_until
    return replace(cancelled, late_cancellation=late, cancel_reason=reason,
                   fee=booking.policy.fee_to_cancel(now).to_json())


def no_show(booking: Booking, now: datetime) -> Booking:
    """The client did not come: the reservation stays, and the no-show fee is due."""
    missed = transition(booking, "no_show", now)
    return replace(missed, fee=booking.policy.no_show_fee.to_json())


def begin_reschedule(booking: Booking, hold_id: str) -> Booking:
    """Record the new hold before asking for it, so a crash leaves a trace to undo."""
    if booking.status != "confirmed":
        raise InvalidTransition.between(booking.status, "rescheduled")
    if booking.next_hold:
        raise InvalidTransition.between("rescheduling", "rescheduled again")
    return replace(booking, next_hold=hold_id)  # bookkeeping: not a change partners see


def finish_reschedule(booking: Booking, hold: Hold, now: datetime) -> Booking:
    """The booking at its new time. Its price and cancellation terms stay those it was
    booked with: moving is not buying again."""
    context = {**booking.context, "therapist": _named(hold.therapist), "room": _named(hold.room)}
    return replace(booking, start=hold.start, end=hold.end, therapist=hold.therapist.id,
                   room=hold.room.id, hold_id=hold.id, next_hold=None,
                   sequence=booking.sequence + 1, context=context, updated_at=now)


def abandon(booking: Booking, now: datetime) -> tuple[Booking, str | None]:
    """Undo a saga step that did not finish: the booking as it must be, and the hold
    that must be released (None when there is nothing to undo)."""
    if booking.status == "pending":
        return transition(booking, "failed", now), booking.hold_id
    if booking.next_hold:
        return replace(booking, next_hold=None), booking.next_hold
    return booking, None


class Replay(Enum):
    NEW = "new"
    REPLAY = "replay"
    CONFLICT = "conflict"
    IN_PROGRESS = "in_progress"


def fingerprint(body: dict) -> str:
    """A stable hash of a JSON request body (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay_decision(record: dict | None, body_fingerprint: str) -> Replay:
    """What to do with a request whose Idempotency-Key was seen before (`record`)."""
    if record is None:
        return Replay.NEW
    if record["fingerprint"] != body_fingerprint:
        return Replay.CONFLICT
    return Replay.REPLAY if record.get("booking") else Replay.IN_PROGRESS
