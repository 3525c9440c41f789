"""marshmallow at the edges: HTTP bodies, query strings, headers, responses and the
payload of booking events. Unknown fields are refused (marshmallow's RAISE)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.booking.commands import BookingRequest, ListBookings, SlotRequest
from services.booking.domain import VISIBLE, Booking, Customer, Intake
from services.booking.store import CURSOR
from services.common.schemas import MoneySchema, in_utc, instant

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


def strict_bool(**kwargs) -> fields.Boolean:
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class SlotRequestSchema(Schema):
    studio = fields.String(required=True, validate=ID)
    treatment = fields.String(required=True, validate=ID)
    duration = fields.Integer(required=True, strict=True, validate=validate.Range(1, 24 * 60),
                              metadata={"description": "minutes"})
    start = instant(required=True)
    therapist = fields.String(validate=ID, metadata={"description": "omit for any"})
    addons = addons_field()
    therapist_gender = gender_field()

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


class CustomerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ()-]{5,40}$"))

    @post_load
    def make(self, data: dict, **kwargs) -> Customer:
        return Customer(**data)


class IntakeSchema(Schema):
    pregnant = strict_bool(required=True)
    recent_surgery = strict_bool(required=True)
    recent_injury = strict_bool(required=True, metadata={
        "description": "a recent sprain, fracture or broken bone"})
    pressure = fields.String(required=True, validate=validate.OneOf(["light", "medium", "firm"]))
    notes = fields.String(validate=validate.Length(max=2000))

    @post_load
    def make(self, data: dict, **kwargs) -> Intake:
        return Intake(**data)


class BookingRequestSchema(Schema):
    """Either `hold` (from POST /v1/holds) or studio, treatment, duration and start."""

    hold = fields.String(validate=ID)
    studio = fields.String(validate=ID)
    treatment = fields.String(validate=ID)
    duration = fields.Integer(strict=True, validate=validate.Range(1, 24 * 60))
    start = instant()
    therapist = fields.String(validate=ID)
    addons = addons_field()
    therapist_gender = gender_field()
    customer = fields.Nested(CustomerSchema, required=True)
    intake = fields.Nested(IntakeSchema, metadata={
        "description": "required by treatments that list contraindications"})

    @validates_schema
    def hold_or_slot(self, data: dict, **kwargs) -> None:
        slot = [name for name in SLOT_FIELDS if name in data]
        if "hold" in data and slot:
            raise ValidationError("give either a hold or a slot, not both", slot[0])
        missing = [n for n in SLOT_FIELDS[:4] if n not in data]
        if "hold" not in data and missing:
            raise ValidationError({n: ["required without a hold"] for n in missing})

    @post_load
    def make(self, data: dict, **kwargs) -> BookingRequest:
        slot = {n: data[n] for n in SLOT_FIELDS if n in data}
        return BookingRequest(data["customer"], data.get("intake"), data.get("hold"),
                              slot_request(slot) if slot else None)


class IdempotencyHeaderSchema(Schema):
    key = fields.String(data_key="Idempotency-Key", required=True,
                        validate=validate.Length(1, 255),
                        metadata={"description": "a retry with the same key books once"})


class PolicySchema(Schema):
    free_cancellation_until = fields.AwareDateTime(metadata={
        "description": "cancelling costs nothing until this instant (included)"})
    late_fee = fields.Nested(MoneySchema, metadata={"description": "cancelling later costs this"})
    no_show_fee = fields.Nested(MoneySchema, metadata={"description": "not coming costs this"})


class BookingSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": list(VISIBLE)})
    studio = fields.String()
    treatment = fields.String()
    duration = fields.Integer()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    therapist = fields.String()
    room = fields.String()
    addons = fields.List(fields.String())
    price = fields.Nested(MoneySchema, metadata={"description": "the total, add-ons included"})
    price_breakdown = fields.Nested(PriceBreakdownSchema, allow_none=True)
    policy = fields.Nested(PolicySchema, metadata={
        "description": "the cancellation policy it was booked under"})
    fee = fields.Nested(MoneySchema, allow_none=True, metadata={
        "description": "what the cancellation or the no-show costs (0 when cancelled in "
                       "time); null otherwise"})
    customer = fields.Nested(CustomerSchema)
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


EVENT_BOOKING = EventBookingSchema()  # built once: a schema instance is costly to make


def event_payload(booking: Booking, previous: Booking | None = None,
                  reason: str | None = None) -> dict:
    """The payload of every booking.* event (docs/internal-contracts.md)."""
    payload = {"booking": EVENT_BOOKING.dump(booking), "context": booking.context}
    if previous is not None:
        payload["previous"] = {"start": previous.start.isoformat(),
                               "end": previous.end.isoformat()}
    if reason is not None:
        payload["reason"] = reason
    return payload
