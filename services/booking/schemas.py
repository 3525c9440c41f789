"""marshmallow at the edges: HTTP bodies, query strings, headers, responses and the
payload of booking events. Unknown fields are refused (marshmallow's RAISE)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.booking.commands import (
    BookingRequest,
    JoinWaitlist,
    ListBookings,
    ListWaitlist,
    NewClient,
    SlotRequest,
)
from services.booking.domain import (
    ERASED,
    PRESSURES,
    VISIBLE,
    Booking,
    Client,
    Customer,
    Intake,
    Preferences,
)
from services.booking.store import CURSOR
from services.booking.waitlist import MAX_WINDOWS, STATUSES, Entry, Window
from services.booking.waitlist_store import MEMBER
from services.common.schemas import MoneySchema, StrictBoolean, in_utc, instant

ID = validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$", error="not a valid id")
SLOT_FIELDS = ("studio", "treatment", "duration", "start", "therapist", "addons",
               "therapist_gender")
GENDERS = ("female", "male", "non_binary")


def addons_field() -> fields.List:
    return fields.List(fields.String(validate=ID), validate=validate.Length(max=10),
                       metadata={"description": "add-on ids the treatment allows"})


def gender_field() -> fields.String:
    return fields.String(validate=validate.OneOf(GENDERS),
                         metadata={"description": "only a therapist of this gender"})


class SlotRequestSchema(Schema):
    studio = fields.String(required=True, validate=ID)
    treatment = fields.String(required=True, validate=ID)
    duration = fields.Integer(required=True, strict=True, validate=validate.Range(1, 24 * 60),
                              metadata={"description": "minutes"})
    start = instant(required=True)
    therapist = fields.String(validate=ID, metadata={"description": "omit for any"})
    addons = addons_field()
    therapist_gender = gender_field()
    client = fields.String(validate=ID, metadata={
        "description": "a client on record: their preferences fill in what is left out"})

    @post_load
    def make(self, data: dict, **kwargs) -> SlotRequest:
        return slot_request(data)


def slot_request(data: dict) -> SlotRequest:
    slot = in_utc(data, "start")
    return SlotRequest(**{**slot, "addons": tuple(slot.get("addons", ()))})


class PricedAddOnSchema(Schema):
    id = fields.String()
    name = fields.String()
    price = fields.Nested(MoneySchema)


class PriceBreakdownSchema(Schema):
    treatment = fields.Nested(MoneySchema)
    addons = fields.List(fields.Nested(PricedAddOnSchema))
    total = fields.Nested(MoneySchema)


class HoldSchema(Schema):
    id = fields.String()
    studio = fields.String()
    treatment = fields.String()
    duration = fields.Integer()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    therapist = fields.Function(lambda hold: hold.therapist.id)
    room = fields.Function(lambda hold: hold.room.id)
    addons = fields.List(fields.String())
    price = fields.Nested(MoneySchema, metadata={"description": "the total, add-ons included"})
    price_breakdown = fields.Nested(PriceBreakdownSchema)
    expires_at = fields.AwareDateTime()


def name_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, 200), **kwargs)


def email_field(**kwargs) -> fields.Email:
    return fields.Email(validate=validate.Length(max=254), **kwargs)


def phone_field() -> fields.String:
    return fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ()-]{5,40}$"))


def notes_field(description: str) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=2000),
                         metadata={"description": description})


def pressure_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(PRESSURES), **kwargs)


class CustomerSchema(Schema):
    name = name_field(required=True)
    email = email_field(required=True)
    phone = phone_field()

    @post_load
    def make(self, data: dict, **kwargs) -> Customer:
        return Customer(**data)


class IntakeSchema(Schema):
    pregnant = StrictBoolean(required=True)
    recent_surgery = StrictBoolean(required=True)
    recent_injury = StrictBoolean(required=True, metadata={
        "description": "a recent sprain, fracture or broken bone"})
    pressure = pressure_field(metadata={
        "description": "omit to use the client's preferred pressure"})
    notes = notes_field("free text: encrypted at rest")

    @post_load
    def make(self, data: dict, **kwargs) -> Intake:
        return Intake(**data)


class BookingRequestSchema(Schema):
    """Either `hold` (from POST /v1/holds) or studio, treatment, duration and start; for
    either a `client` on record or an inline `customer`."""

    hold = fields.String(validate=ID)
    studio = fields.String(validate=ID)
    treatment = fields.String(validate=ID)
    duration = fields.Integer(strict=True, validate=validate.Range(1, 24 * 60))
    start = instant()
    therapist = fields.String(validate=ID)
    addons = addons_field()
    therapist_gender = gender_field()
    client = fields.String(validate=ID, metadata={"description": "a client on record"})
    customer = fields.Nested(CustomerSchema, metadata={
        "description": "the client inline: the caller's client with this email is used, "
                       "or made"})
    intake = fields.Nested(IntakeSchema, metadata={
        "description": "treatments that list contraindications need it, unless the "
                       "client has one on record younger than SPA_INTAKE_VALID_DAYS"})

    @validates_schema
    def hold_or_slot(self, data: dict, **kwargs) -> None:
        slot = [name for name in SLOT_FIELDS if name in data]
        if "hold" in data and slot:
            raise ValidationError("give either a hold or a slot, not both", slot[0])
        missing = [n for n in SLOT_FIELDS[:4] if n not in data]
        if "hold" not in data and missing:
            raise ValidationError({n: ["required without a hold"] for n in missing})

    @validates_schema
    def client_or_customer(self, data: dict, **kwargs) -> None:
        if "client" in data and "customer" in data:
            raise ValidationError("give either a client or a customer, not both", "customer")
        if "client" not in data and "customer" not in data:
            raise ValidationError("give a client id, or the customer inline", "customer")

    @post_load
    def make(self, data: dict, **kwargs) -> BookingRequest:
        slot = {n: data[n] for n in SLOT_FIELDS if n in data}
        return BookingRequest(data.get("customer"), data.get("intake"), data.get("hold"),
                              slot_request(slot) if slot else None, data.get("client"))


class IdempotencyHeaderSchema(Schema):
    key = fields.String(data_key="Idempotency-Key", required=True,
                        validate=validate.Length(1, 255),
                        metadata={"description": "a retry with the same key books once"})


class PolicySchema(Schema):
    free_cancellation_until = fields.AwareDateTime(metadata={
        "description": "cancelling costs nothing until this instant (included)"})
    late_fee = fields.Nested(MoneySchema, metadata={"description": "cancelling later costs this"})
    no_show_fee = fields.Nested(MoneySchema, metadata={"description": "not coming costs this"})


class BookedCustomerSchema(Schema):
    """Who a booking is for, as it was made; every field reads "erased" (the phone
    null) once the client asked to be forgotten."""

    name = fields.String()
    email = fields.String(metadata={"description": "an address, or \"erased\""})
    phone = fields.String(allow_none=True)


class ScreeningSchema(Schema):
    """The outcome only: the health answers never leave booking."""

    outcome = fields.String(metadata={
        "enum": ["cleared", "not_required"],
        "description": "cleared: the intake was screened; not_required: none was needed"})
    rule_version = fields.String()


class BookingSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": list(VISIBLE)})
    studio = fields.String()
    treatment = fields.String()
    duration = fields.Integer()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    therapist = fields.String()
    therapist_gender = fields.String(allow_none=True, metadata={
        "description": "the therapist gender asked for (null: any); a reschedule keeps it"})
    room = fields.String()
    addons = fields.List(fields.String())
    price = fields.Nested(MoneySchema, metadata={"description": "the total, add-ons included"})
    price_breakdown = fields.Nested(PriceBreakdownSchema, allow_none=True)
    policy = fields.Nested(PolicySchema, metadata={
        "description": "the cancellation policy it was booked under"})
    fee = fields.Nested(MoneySchema, allow_none=True, metadata={
        "description": "what the cancellation or the no-show costs (0 when cancelled in "
                       "time); null otherwise"})
    client = fields.String(allow_none=True, metadata={"description": "the client on record"})
    customer = fields.Nested(BookedCustomerSchema)
    screening = fields.Nested(ScreeningSchema)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    late_cancellation = fields.Boolean(metadata={
        "description": "cancelled after free_cancellation_until"})


class EventBookingSchema(BookingSchema):
    sequence = fields.Integer()


class BookingPageSchema(Schema):
    items = fields.List(fields.Nested(BookingSchema))
    next_cursor = fields.String(allow_none=True)


class BookingQuerySchema(Schema):
    studio = fields.String(validate=ID)
    from_ = instant(data_key="from", metadata={"description": "starts at or after"})
    to = instant(metadata={"description": "starts before"})
    status = fields.String(validate=validate.OneOf(VISIBLE))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Regexp(CURSOR, error="not a valid cursor"))

    @post_load
    def make(self, data: dict, **kwargs) -> ListBookings:
        return ListBookings(data["limit"], data.get("studio"), data.get("status"),
                            data.get("cursor"), data.get("from_"), data.get("to"))


class CancelSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class RescheduleSchema(Schema):
    start = instant(required=True)
    therapist = fields.String(validate=ID, metadata={"description": "omit for any"})

    @post_load
    def make(self, data: dict, **kwargs) -> dict:
        return in_utc(data, "start")


# clients

class PreferencesSchema(Schema):
    pressure = pressure_field(allow_none=True)
    therapist = fields.String(allow_none=True, validate=ID, metadata={
        "description": "booked when free, else any able therapist"})
    therapist_gender = fields.String(allow_none=True, validate=validate.OneOf(GENDERS))
    notes = notes_field("free text for the therapist: encrypted at rest")


class NewClientSchema(Schema):
    name = name_field(required=True)
    email = email_field(required=True, metadata={
        "description": "unique among the caller's clients"})
    phone = phone_field()
    preferences = fields.Nested(PreferencesSchema)

    @post_load
    def make(self, data: dict, **kwargs) -> NewClient:
        return NewClient(**{**data, "preferences": Preferences(**data.get("preferences", {}))})


class ClientChangesSchema(Schema):
    """Only the fields given change; a preference given as null is cleared."""

    name = name_field()
    email = email_field()
    phone = phone_field()
    preferences = fields.Nested(PreferencesSchema)

    @validates_schema
    def something(self, data: dict, **kwargs) -> None:
        if not data:
            raise ValidationError("give at least one field to change")


class ClientSchema(Schema):
    id = fields.String()
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    preferences = fields.Nested(PreferencesSchema)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class ClientListSchema(Schema):
    items = fields.List(fields.Nested(ClientSchema))


class ClientQuerySchema(Schema):
    email = fields.String(required=True, validate=validate.Length(1, 254),
                          metadata={"description": "exact match (case aside)"})


class ClientBookingsQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Regexp(CURSOR, error="not a valid cursor"))


class EraseQuerySchema(Schema):
    cancel_future = fields.Boolean(load_default=False, metadata={
        "description": "cancel the client's bookings to come first (else 409)"})


class IntakeRecordSchema(Schema):
    pregnant = fields.Boolean(attribute="answers.pregnant")
    recent_surgery = fields.Boolean(attribute="answers.recent_surgery")
    recent_injury = fields.Boolean(attribute="answers.recent_injury")
    pressure = fields.String(attribute="answers.pressure", allow_none=True)
    notes = fields.String(attribute="answers.notes", allow_none=True)
    recorded_at = fields.AwareDateTime()


class HeldBookingSchema(BookingSchema):
    """A booking as an export shows it: those that never went through too."""

    status = fields.String(metadata={"enum": ["pending", "failed", *VISIBLE]})


class ExportSchema(Schema):
    client = fields.Nested(ClientSchema)
    intake = fields.List(fields.Nested(IntakeRecordSchema), metadata={
        "description": "every intake on record, oldest first"})
    bookings = fields.List(fields.Nested(HeldBookingSchema), metadata={
        "description": "every booking made for the client, in start order, failed ones "
                       "included"})
    notifications = fields.List(fields.Dict(), metadata={
        "description": "every email and webhook sent about the client's bookings, from "
                       "the delivery log"})
    exported_at = fields.AwareDateTime()


EVENT_BOOKING = EventBookingSchema()  # built once: a schema instance is costly to make


def event_payload(booking: Booking, previous: Booking | None = None,
                  reason: str | None = None) -> dict:
    """The payload of every booking.* event (docs/internal-contracts.md)."""
    payload = {"booking": EVENT_BOOKING.dump(booking), "context": booking.context,
               "owner": booking.owner}
    if previous is not None:
        payload["previous"] = {"start": previous.start.isoformat(),
                               "end": previous.end.isoformat()}
    if reason is not None:
        payload["reason"] = reason
    return payload


# the waitlist


class WindowSchema(Schema):
    start = instant(required=True, data_key="from")
    end = instant(required=True, data_key="to", metadata={
        "description": "the whole appointment lies between from and to"})

    @post_load
    def make(self, data: dict, **kwargs) -> Window:
        moved = in_utc(data, "start", "end")
        return Window(moved["start"], moved["end"])


class JoinWaitlistSchema(Schema):
    """`studio` or `studios`; `client` or `customer`: exactly one of each."""

    studio = fields.String(validate=ID)
    studios = fields.List(fields.String(validate=ID), validate=validate.Length(1, 10))
    treatment = fields.String(required=True, validate=ID)
    duration = fields.Integer(required=True, strict=True, validate=validate.Range(1, 24 * 60),
                              metadata={"description": "minutes"})
    addons = addons_field()
    windows = fields.List(fields.Nested(WindowSchema), required=True,
                          validate=validate.Length(1, MAX_WINDOWS))
    therapist = fields.String(validate=ID, metadata={"description": "omit for any"})
    therapist_gender = gender_field()
    client = fields.String(validate=ID, metadata={"description": "a client on record"})
    customer = fields.Nested(CustomerSchema)
    intake = fields.Nested(IntakeSchema, metadata={
        "description": "as for a booking: needed unless the client has one on record"})

    @validates_schema
    def one_of_each(self, data: dict, **kwargs) -> None:
        for one, other in (("studio", "studios"), ("client", "customer")):
            if (one in data) == (other in data):
                raise ValidationError(f"give either {one} or {other}", one)

    @post_load
    def make(self, data: dict, **kwargs) -> JoinWaitlist:
        studios = tuple(dict.fromkeys(data.get("studios") or [data.get("studio")]))
        return JoinWaitlist(studios, data["treatment"], data["duration"],
                            tuple(data["windows"]), data.get("customer"), data.get("client"),
                            data.get("intake"), tuple(data.get("addons", ())),
                            data.get("therapist"), data.get("therapist_gender"))


class OfferSchema(Schema):
    hold = fields.String()
    studio = fields.String()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    therapist = fields.String()
    room = fields.String()
    price = fields.Nested(MoneySchema)
    expires_at = fields.AwareDateTime(metadata={
        "description": "accept before this, or the time goes to the next in line"})


class WindowViewSchema(Schema):
    start = fields.AwareDateTime(data_key="from")
    end = fields.AwareDateTime(data_key="to")


class WaitlistEntrySchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    studios = fields.List(fields.String())
    treatment = fields.String()
    duration = fields.Integer()
    addons = fields.List(fields.String())
    windows = fields.List(fields.Nested(WindowViewSchema))
    therapist = fields.String(allow_none=True)
    therapist_gender = fields.String(allow_none=True)
    client = fields.String()
    offer = fields.Nested(OfferSchema, allow_none=True, metadata={
        "description": "while offered: the time held for this entry"})
    booking = fields.String(allow_none=True, metadata={"description": "once booked"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class WaitlistPageSchema(Schema):
    items = fields.List(fields.Nested(WaitlistEntrySchema))
    next_cursor = fields.String(allow_none=True)


class WaitlistQuerySchema(Schema):
    studio = fields.String(validate=ID)
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Regexp(MEMBER, error="not a valid cursor"))

    @post_load
    def make(self, data: dict, **kwargs) -> ListWaitlist:
        return ListWaitlist(data["limit"], data.get("studio"), data.get("status"),
                            data.get("cursor"))


EVENT_ENTRY = WaitlistEntrySchema()
ERASED_CUSTOMER = {"name": ERASED, "email": ERASED, "phone": None}


def waitlist_payload(entry: Entry, client: Client | None, context: dict | None) -> dict:
    """The payload of every waitlist.* event (docs/internal-contracts.md): the entry,
    who it is for (notifications emails the offer), and, with an offer, what the
    email says of the studio and treatment."""
    customer = ({"name": client.name, "email": client.email, "phone": client.phone}
                if client else ERASED_CUSTOMER)
    payload = {"entry": EVENT_ENTRY.dump(entry), "customer": customer, "owner": entry.owner}
    if context:
        payload["context"] = context
    return payload
