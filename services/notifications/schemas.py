"""marshmallow at the edges: the HTTP bodies, queries and responses (unknown fields
rejected), and the booking event payload we consume (unknown fields allowed, so
booking can add to its events without breaking us)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validate

from services.notifications.commands import RegisterWebhook
from services.notifications.domain import CHANNELS, ERASED, STATUSES, WEBHOOK_EVENTS

# HTTP


class WebhookInSchema(Schema):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2000))
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                         required=True, validate=validate.Length(min=1))

    @post_load
    def make(self, data: dict, **kwargs) -> RegisterWebhook:
        return RegisterWebhook(data["url"], tuple(dict.fromkeys(data["events"])))


class WebhookSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    studios = fields.List(fields.String(), allow_none=True,
                          metadata={"description": "null: every studio of the city"})
    created_at = fields.String(required=True)


class NewWebhookSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={
        "description": "whsec_...: verify deliveries with it; shown this once only"})


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookSchema), required=True)


class NotificationQuerySchema(Schema):
    booking = fields.String(required=True, validate=validate.Length(min=1, max=64))


class NotificationSchema(Schema):
    id = fields.String(required=True)
    booking = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    kind = fields.String(required=True, metadata={
        "description": "confirmation, reschedule, cancellation, reminder, last_meal "
                       "(email); the event type (webhook)"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True)
    scheduled_for = fields.String(required=True, metadata={
        "description": "when it is (or was) due: the next attempt while pending"})
    sent_at = fields.String(allow_none=True)
    endpoint = fields.String(allow_none=True, metadata={"description": "webhook id"})
    possible_duplicate = fields.Boolean(metadata={
        "description": "an earlier attempt stopped mid-send, so this message may have "
                       "gone out twice, with the same Message-ID or webhook-id"})


class NotificationListSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)


# The booking event payload (docs/internal-contracts.md)


def _known_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError("not an IANA time zone") from error


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class MoneySchema(_Open):
    amount = fields.String(required=True)
    currency = fields.String(required=True)


def _email_or_erased(value: str) -> None:
    if value != ERASED:
        validate.Email()(value)


class CustomerSchema(_Open):
    name = fields.String(required=True)
    email = fields.String(required=True, validate=_email_or_erased, metadata={
        "description": "an address, or \"erased\" once the client asked to be forgotten"})


class BookingSchema(_Open):
    id = fields.String(required=True)
    studio = fields.String(required=True)
    duration = fields.Integer(required=True)
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)
    price = fields.Nested(MoneySchema, required=True)
    customer = fields.Nested(CustomerSchema, required=True)
    sequence = fields.Integer(load_default=0)


class NamedSchema(_Open):
    id = fields.String(required=True)
    name = fields.String(required=True)


class StudioContextSchema(NamedSchema):
    timezone = fields.String(required=True, validate=_known_zone)
    address = fields.String(load_default="", allow_none=True)


class TreatmentContextSchema(NamedSchema):
    preparation = fields.List(fields.String(), load_default=list, allow_none=True)
    aftercare = fields.List(fields.String(), load_default=list, allow_none=True)
    no_food_before_min = fields.Integer(allow_none=True, load_default=None,
                                        validate=validate.Range(min=1))


class ContextSchema(_Open):
    studio = fields.Nested(StudioContextSchema, required=True)
    treatment = fields.Nested(TreatmentContextSchema, required=True)
    therapist = fields.Nested(NamedSchema, required=True)
    room = fields.Nested(NamedSchema, required=True)


class BookingEventPayloadSchema(_Open):
    booking = fields.Nested(BookingSchema, required=True)
    context = fields.Nested(ContextSchema, required=True)
    previous = fields.Dict(allow_none=True)
    reason = fields.String(allow_none=True)


class OfferSchema(_Open):
    studio = fields.String(required=True)
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)
    price = fields.Nested(MoneySchema, required=True)
    expires_at = fields.AwareDateTime(required=True)


class EntrySchema(_Open):
    id = fields.String(required=True)
    studios = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    duration = fields.Integer(required=True)
    offer = fields.Nested(OfferSchema, allow_none=True)


class OfferContextSchema(_Open):
    studio = fields.Nested(StudioContextSchema, required=True)
    treatment = fields.Nested(NamedSchema, required=True)


class WaitlistEventPayloadSchema(_Open):
    entry = fields.Nested(EntrySchema, required=True)
    customer = fields.Nested(CustomerSchema, required=True)
    context = fields.Nested(OfferContextSchema)


class ClientErasedPayloadSchema(_Open):
    client = fields.String(required=True)
    bookings = fields.List(fields.String(), required=True)
    waitlist = fields.List(fields.String(), load_default=list)


# RPC


class SentAboutParams(Schema):
    bookings = fields.List(fields.String(validate=validate.Length(1, 64)), required=True,
                           validate=validate.Length(max=10_000))


class SentNotificationSchema(NotificationSchema):
    """A delivery as a client's export shows it: to whom, and what about."""

    recipient = fields.Function(lambda d: d.target if d.channel == "email" else None,
                                allow_none=True)
    event_type = fields.String()


class SentAboutSchema(Schema):
    items = fields.List(fields.Nested(SentNotificationSchema))
