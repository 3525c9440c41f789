"""marshmallow at the edges: the city file / stored catalog / admin bodies (one shape
for all three, loaded into domain dataclasses), the views partners and booking read
(dumped from domain dataclasses), and query arguments and RPC params (loaded into
commands.py)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.availability.commands import (
    Confirm,
    Describe,
    HoldFirst,
    HoldSlot,
    Release,
    Reserve,
    SearchSlots,
)
from services.availability.domain import (
    CONTRAINDICATIONS,
    GENDERS,
    WEEKDAYS,
    Absence,
    AddOn,
    AddOnRequires,
    BookingWindow,
    CancellationPolicy,
    City,
    Requires,
    Room,
    Shift,
    Studio,
    Therapist,
    TimeRange,
    Treatment,
    iso,
)
from services.common.schemas import Amount, MoneySchema, instant, within_years

MAX_SEARCH_DAYS = 31
IDENT = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$",
                        error="use 1-64 lowercase letters, digits, '-' or '_'")
TOKEN = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                        error="use 1-64 letters, digits, '.', ':', '-' or '_'")
RANGE = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")
STEPS = (5, 10, 15, 20, 30, 60)  # divisors of an hour: the grid survives a clock change


# Custom fields ----------------------------------------------------------------------

def parse_range(text: object) -> TimeRange:
    match = RANGE.match(text) if isinstance(text, str) else None
    try:
        hours = TimeRange(*(time.fromisoformat(part) for part in match.groups()))
    except (AttributeError, ValueError):
        raise ValidationError(f"{text!r} is not 'HH:MM-HH:MM' (quote it in YAML)") from None
    if hours.end <= hours.start:
        raise ValidationError(f"{text!r} must end after it starts, on the same day")
    return hours


def weekday(name: object) -> int:
    if name not in WEEKDAYS:
        raise ValidationError(f"{name!r} is not a weekday ({', '.join(WEEKDAYS)})")
    return WEEKDAYS.index(name)


class Hours(fields.Field):
    """'09:00-17:00' <-> TimeRange."""

    def _serialize(self, value, attr, obj, **kwargs):
        return str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_range(value)


class WeeklyHours(fields.Field):
    """{mon: ['07:00-12:00', '13:00-21:00'], tue: '09:00-17:00'} <-> {0: (TimeRange, ...)}.
    A day left out is closed."""

    def _serialize(self, value, attr, obj, **kwargs):
        return {WEEKDAYS[day]: [str(r) for r in ranges] for day, ranges in sorted(value.items())}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("expected weekday: hours, e.g. {mon: '09:00-17:00'}")
        return {weekday(name): tuple(parse_range(r) for r in _as_list(ranges))
                for name, ranges in value.items()}


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


class Weekdays(fields.Field):
    """['mon', 'tue'] <-> frozenset({0, 1})."""

    def _serialize(self, value, attr, obj, **kwargs):
        return [WEEKDAYS[day] for day in sorted(value)]

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list) or not value:
            raise ValidationError("expected a non-empty list of weekdays, e.g. [mon, tue]")
        return frozenset(weekday(name) for name in value)


class Names(fields.List):
    """A set of names (equipment, skills), dumped sorted so documents are stable."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.Length(min=1)), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return sorted(value)

    def _deserialize(self, value, attr, data, **kwargs):
        return frozenset(super()._deserialize(value, attr, data, **kwargs))


class Zone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {name!r} (an IANA name, "
                                  "e.g. Europe/London)") from None
        return name


class DateOrInstant(fields.Field):
    """A date ('2026-12-01', in the studio's zone) or an instant with an offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat()

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("expected a date (YYYY-MM-DD) or an RFC 3339 instant")
        if "T" in value:
            return parse_instant(value.replace(" ", "+"))  # '+' arrives as ' ' in URLs
        try:
            return within_years(date.fromisoformat(value))
        except ValueError:
            raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def parse_instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not an RFC 3339 instant") from None
    if instant.tzinfo is None:
        raise ValidationError(f"{text!r} needs an offset, e.g. +00:00")
    return within_years(instant)


def check_order(first: date | datetime, last: date | datetime, field: str) -> None:
    if isinstance(first, datetime) != isinstance(last, datetime):
        raise ValidationError("give both as dates or both as instants", field)
    if last < first:
        raise ValidationError("must not be before the start", field)


# Catalog entries (the city file, the stored catalog, admin bodies) ---------------------

class CitySchema(Schema):
    id = fields.String(required=True, validate=IDENT)
    name = fields.String(required=True)
    timezone = Zone(required=True)
    currency = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{3}$", error="an ISO 4217 code, e.g. GBP"))

    @post_load
    def make(self, data, **kwargs) -> City:
        return City(**data)


class AbsenceSchema(Schema):
    start = DateOrInstant(required=True, attribute="first",
                          metadata={"description": "a date (whole local day) or an instant"})
    end = DateOrInstant(required=True, attribute="last",
                        metadata={"description": "a date (included) or an instant (excluded)"})
    reason = fields.String(load_default="")

    @validates_schema
    def end_after_start(self, data, **kwargs):
        check_order(data["first"], data["last"], "end")

    @post_load
    def make(self, data, **kwargs) -> Absence:
        return Absence(**data)


class Percent(fields.Decimal):
    """A percentage, 0 to 100 with at most two decimal places: exact (Decimal) inside,
    a JSON number outside."""

    def __init__(self, **kwargs):
        super().__init__(places=2, validate=validate.Range(0, 100), allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("a number from 0 to 100")
        return super()._deserialize(value, attr, data, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        value = Decimal(value)
        return int(value) if value == value.to_integral_value() else float(value)


class BookingWindowSchema(Schema):
    min_notice_min = fields.Integer(required=True, strict=True,
                                    validate=validate.Range(0, 30 * 24 * 60), metadata={
                                        "description": "the earliest start: this long after now"})
    max_advance_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 730),
                                      metadata={"description": "the latest start: this many days "
                                                               "after now"})

    @validates_schema
    def notice_before_advance(self, data, **kwargs):
        if data["min_notice_min"] >= data["max_advance_days"] * 24 * 60:
            raise ValidationError("must be less than max_advance_days", "min_notice_min")

    @post_load
    def make(self, data, **kwargs) -> BookingWindow:
        return BookingWindow(**data)


class CancellationSchema(Schema):
    free_until_h = fields.Integer(required=True, strict=True, validate=validate.Range(0, 720),
                                  metadata={"description": "free until this many hours before "
                                                           "the start"})
    late_fee_percent = Percent(required=True, metadata={
        "description": "of the price, when cancelled later than that"})
    no_show_fee_percent = Percent(required=True, metadata={
        "description": "of the price, when the client does not come"})

    @post_load
    def make(self, data, **kwargs) -> CancellationPolicy:
        return CancellationPolicy(**data)


OLD_CANCELLATION = ("cancellation_window_h was replaced by `cancellation: {free_until_h: N, "
                    "late_fee_percent: P, no_show_fee_percent: P}`; write e.g. "
                    "cancellation: {free_until_h: 24, late_fee_percent: 50, "
                    "no_show_fee_percent: 100}")


class StudioSchema(Schema):
    id = fields.String(required=True, validate=IDENT)
    name = fields.String(required=True)
    address = fields.String(load_default="")
    timezone = Zone(required=True)
    opening_hours = WeeklyHours(required=True, metadata={
        "description": "weekday -> 'HH:MM-HH:MM' or a list of them; a missing day is closed"})
    closures = fields.List(fields.Nested(AbsenceSchema), load_default=list)
    slot_step_min = fields.Integer(load_default=15, validate=validate.OneOf(STEPS))
    booking_window = fields.Nested(BookingWindowSchema, load_default=BookingWindow)
    cancellation = fields.Nested(CancellationSchema, load_default=CancellationPolicy)
    cancellation_window_h = fields.Raw(load_only=True, metadata={
        "description": "replaced by `cancellation`; refused with how to write it"})

    @validates_schema
    def no_old_window(self, data, **kwargs):
        if "cancellation_window_h" in data:
            raise ValidationError(OLD_CANCELLATION, "cancellation_window_h")

    @post_load
    def make(self, data, **kwargs) -> Studio:
        return Studio(**{**data, "closures": tuple(data["closures"])})


class RoomSchema(Schema):
    id = fields.String(required=True, validate=IDENT)
    studio = fields.String(required=True)
    name = fields.String(required=True)
    equipment = Names(required=True)

    @post_load
    def make(self, data, **kwargs) -> Room:
        return Room(**data)


class ShiftSchema(Schema):
    studio = fields.String(required=True)
    days = Weekdays(required=True)
    hours = Hours(required=True, metadata={"description": "'HH:MM-HH:MM', local time"})

    @post_load
    def make(self, data, **kwargs) -> Shift:
        return Shift(**data)


class TherapistSchema(Schema):
    id = fields.String(required=True, validate=IDENT)
    name = fields.String(required=True)
    skills = Names(required=True)
    shifts = fields.List(fields.Nested(ShiftSchema), required=True)
    time_off = fields.List(fields.Nested(AbsenceSchema), load_default=list)
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS),
                           metadata={"description": "for clients who ask for a therapist "
                                                    "of a given gender"})

    @post_load
    def make(self, data, **kwargs) -> Therapist:
        return Therapist(**{**data, "shifts": tuple(data["shifts"]),
                            "time_off": tuple(data["time_off"])})


class RequiresSchema(Schema):
    skill = fields.String(required=True)
    equipment = Names(load_default=frozenset)

    @post_load
    def make(self, data, **kwargs) -> Requires:
        return Requires(**data)


def texts() -> fields.List:
    return fields.List(fields.String(), load_default=tuple)


class TreatmentSchema(Schema):
    id = fields.String(required=True, validate=IDENT)
    name = fields.String(required=True)
    durations_min = fields.List(fields.Integer(strict=True, validate=validate.Range(5, 480)),
                                required=True, validate=validate.Length(min=1))
    prices = fields.Dict(keys=fields.Integer(), values=Amount(),
        required=True, metadata={"description": "duration -> amount in the city currency"})
    requires = fields.Nested(RequiresSchema, required=True)
    buffer_min = fields.Integer(load_default=0, validate=validate.Range(0, 240))
    contraindications = fields.List(fields.String(validate=validate.OneOf(CONTRAINDICATIONS)),
                                    load_default=tuple)
    preparation = texts()
    aftercare = texts()
    no_food_before_min = fields.Integer(load_default=None, allow_none=True,
                                        validate=validate.Range(0, 24 * 60))
    intake_required = fields.Boolean(load_default=False)
    booking_window = fields.Nested(BookingWindowSchema, load_default=None, allow_none=True,
                                   metadata={"description": "null: the studio's"})
    addons = fields.List(fields.String(validate=IDENT), load_default=tuple,
                         metadata={"description": "the ids of the add-ons it allows"})

    @post_load
    def make(self, data, **kwargs) -> Treatment:
        lists = ("durations_min", "contraindications", "preparation", "aftercare", "addons")
        return Treatment(**{**data, **{name: tuple(data[name]) for name in lists}})


class AddOnRequiresSchema(Schema):
    skill = fields.String(load_default=None, allow_none=True)
    equipment = Names(load_default=frozenset)

    @post_load
    def make(self, data, **kwargs) -> AddOnRequires:
        return AddOnRequires(**data)


class AddOnSchema(Schema):
    id = fields.String(required=True, validate=IDENT)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    extra_min = fields.Integer(required=True, strict=True, validate=validate.Range(0, 240),
                               metadata={"description": "minutes it adds to the visit"})
    prices = fields.Dict(keys=fields.Integer(), values=Amount(allow_zero=True),
                         load_default=dict, metadata={
                             "description": "treatment length (minutes) -> its price"})
    price = Amount(allow_zero=True, load_default=None, allow_none=True,
                   metadata={"description": "one price whatever the length (instead of prices)"})
    requires = fields.Nested(AddOnRequiresSchema, load_default=AddOnRequires)

    @validates_schema
    def one_kind_of_price(self, data, **kwargs):
        if bool(data.get("prices")) == (data.get("price") is not None):
            raise ValidationError("give either prices (per treatment length) or one price",
                                  "price")

    @post_load
    def make(self, data, **kwargs) -> AddOn:
        return AddOn(**data)


class CatalogSchema(Schema):
    """A whole city file. Entries load into dataclasses; catalog_loader assembles them."""

    city = fields.Nested(CitySchema, required=True)
    equipment = Names(required=True, metadata={"description": "every equipment name known"})
    skills = Names(required=True, metadata={"description": "every skill name known"})
    studios = fields.List(fields.Nested(StudioSchema), required=True)
    rooms = fields.List(fields.Nested(RoomSchema), load_default=list)
    therapists = fields.List(fields.Nested(TherapistSchema), load_default=list)
    addons = fields.List(fields.Nested(AddOnSchema), load_default=list)
    treatments = fields.List(fields.Nested(TreatmentSchema), load_default=list)


def optional_id() -> fields.String:
    return fields.String(load_default="", metadata={"description": "optional; the path names it"})


class StudioBody(StudioSchema):
    id = optional_id()


class RoomBody(RoomSchema):
    id = optional_id()


class TherapistBody(TherapistSchema):
    id = optional_id()


class TreatmentBody(TreatmentSchema):
    id = optional_id()


class AddOnBody(AddOnSchema):
    id = optional_id()


# Views (dumped from domain dataclasses) --------------------------------------------

class EpochInstant(fields.Field):
    """Epoch seconds (the ledger's unit) as an RFC 3339 instant in UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else iso(value)


class StudioView(Schema):
    id = fields.String()
    name = fields.String()
    city = fields.String()
    timezone = fields.String()
    address = fields.String()
    booking_window = fields.Nested(BookingWindowSchema)
    cancellation = fields.Nested(CancellationSchema)


class RequiresView(Schema):
    skill = fields.String()
    equipment = Names()


class AddOnOfferView(Schema):
    id = fields.String()
    name = fields.String()
    extra_min = fields.Integer(metadata={"description": "minutes it adds"})
    prices = fields.Dict(keys=fields.String(), values=fields.Nested(MoneySchema),
                         metadata={"description": "treatment length (minutes) -> its price"})
    requires = fields.Nested(AddOnRequiresSchema)


class TreatmentView(Schema):
    id = fields.String()
    name = fields.String()
    durations_min = fields.List(fields.Integer())
    prices = fields.Dict(keys=fields.String(), values=fields.Nested(MoneySchema),
                         attribute="price_list",
                         metadata={"description": "duration (minutes) -> price"})
    requires = fields.Nested(RequiresView)
    contraindications = fields.List(fields.String())
    preparation = fields.List(fields.String())
    aftercare = fields.List(fields.String())
    no_food_before_min = fields.Integer(allow_none=True)
    addons = fields.List(fields.Nested(AddOnOfferView), attribute="addon_offers",
                         metadata={"description": "the add-ons it allows"})
    booking_windows = fields.Dict(keys=fields.String(), values=fields.Nested(
        BookingWindowSchema), metadata={"description": "studio -> the booking window in "
                                                       "force for this treatment there"})


class SlotView(Schema):
    """Documents `engine.Slot.to_json`, which the search hot path writes directly."""

    studio = fields.String()
    start = fields.String(metadata={"format": "date-time"})
    end = fields.String(metadata={"format": "date-time"})
    therapists = fields.List(fields.String())
    price = fields.Nested(MoneySchema)


def items_of(schema: type[Schema]) -> type[Schema]:
    name = schema.__name__.removesuffix("View") + "List"
    return Schema.from_dict({"items": fields.List(fields.Nested(schema))}, name=name)


StudioList = items_of(StudioView)
TreatmentList = items_of(TreatmentView)
SlotList = items_of(SlotView)


class SpanView(Schema):
    start = EpochInstant()
    end = EpochInstant(metadata={"description": "excluded"})


class ClosureView(SpanView):
    reason = fields.String()


class TherapistDayView(Schema):
    id = fields.String(attribute="therapist.id")
    name = fields.String(attribute="therapist.name")
    gender = fields.String(attribute="therapist.gender", allow_none=True)
    skills = Names(attribute="therapist.skills")
    shifts = fields.List(fields.Nested(SpanView), metadata={
        "description": "the times they work at this studio on this day"})
    time_off = fields.List(fields.Nested(SpanView))


class TakenView(Schema):
    therapist = fields.String()
    room = fields.String()
    treatment = fields.String()
    addons = fields.List(fields.String())
    start = EpochInstant()
    end = EpochInstant()
    busy_until = EpochInstant(metadata={"description": "the end and the cleanup after it"})
    kind = fields.Function(lambda r: "booked" if r.confirmed else "held",
                           metadata={"enum": ["booked", "held"]})
    expires_at = fields.Function(lambda r: None if r.confirmed else iso(r.expires_at),
                                 metadata={"description": "a hold's end; null once booked"})


class ScheduleView(Schema):
    studio = fields.Nested(StudioView)
    date = fields.Date(attribute="day")
    day = fields.Nested(SpanView, attribute="span", metadata={
        "description": "local midnight to the next: 23 or 25 hours on a clock-change day"})
    open = fields.List(fields.Nested(SpanView), metadata={"description": "opening hours"})
    closures = fields.List(fields.Nested(ClosureView))
    rooms = fields.List(fields.Nested(RoomSchema))
    therapists = fields.List(fields.Nested(TherapistDayView), metadata={
        "description": "everyone with a shift at this studio on some weekday"})
    taken = fields.List(fields.Nested(TakenView), attribute="reservations", metadata={
        "description": "time held or booked (whose is not said: a studio can have "
                       "several partners)"})


class ScheduleArgs(Schema):
    date = fields.Date(required=True, validate=within_years,
                       metadata={"description": "a local day of the studio"})


class NamedView(Schema):
    id = fields.String()
    name = fields.String()


class DescribedStudioView(StudioView):
    currency = fields.String()


class DescribedTreatmentView(Schema):
    id = fields.String()
    name = fields.String()
    durations_min = fields.List(fields.Integer())
    contraindications = fields.List(fields.String())
    intake_required = fields.Boolean()
    preparation = fields.List(fields.String())
    aftercare = fields.List(fields.String())
    no_food_before_min = fields.Integer(allow_none=True)


class DescriptionView(Schema):
    """The RPC `describe` result (docs/internal-contracts.md)."""

    studio = fields.Nested(DescribedStudioView)
    treatment = fields.Nested(DescribedTreatmentView)
    alternatives = fields.List(fields.Nested(NamedView))
    booking_window = fields.Nested(BookingWindowSchema, metadata={
        "description": "the window in force for this treatment at this studio"})


class PricedAddOnView(Schema):
    id = fields.String()
    name = fields.String()
    price = fields.Nested(MoneySchema)


class PriceBreakdownView(Schema):
    treatment = fields.Nested(MoneySchema)
    addons = fields.List(fields.Nested(PricedAddOnView))
    total = fields.Nested(MoneySchema)


class HeldView(Schema):
    """The RPC `hold` result: a reservation with its therapist's and room's names, its
    price item by item, and the studio's cancellation policy it is made under."""

    hold_id = fields.String(attribute="reservation.hold_id")
    studio = fields.String(attribute="reservation.studio")
    treatment = fields.String(attribute="reservation.treatment")
    duration = fields.Integer(attribute="reservation.duration")
    start = EpochInstant(attribute="reservation.start")
    end = EpochInstant(attribute="reservation.end")
    therapist = fields.Nested(NamedView)
    room = fields.Nested(NamedView)
    price = fields.Nested(MoneySchema, attribute="reservation.price")
    expires_at = EpochInstant(attribute="expires_at", allow_none=True)
    addons = fields.List(fields.String(), attribute="reservation.addons")
    price_breakdown = fields.Nested(PriceBreakdownView)
    cancellation = fields.Nested(CancellationSchema)
    catalog_version = fields.Integer(allow_none=True, metadata={
        "description": "reserve: the catalog version it was decided by"})


class CommaList(fields.String):
    """'a,b' in a query string <-> ('a', 'b')."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        items = tuple(item.strip() for item in text.split(",") if item.strip())
        if len(items) > 10:
            raise ValidationError("at most 10")
        return items


class SlotQueryArgs(Schema):
    treatment = fields.String(required=True, validate=validate.Length(1, 64))
    duration = fields.Integer(required=True, validate=validate.Range(1, 24 * 60),
                              metadata={"description": "minutes, e.g. 60"})
    from_ = DateOrInstant(required=True, data_key="from",
                          metadata={"description": "a date in the studio's zone, or an instant"})
    to = DateOrInstant(required=True, metadata={
        "description": f"a date (included) or an instant (excluded); at most "
                       f"{MAX_SEARCH_DAYS} days after `from`"})
    studio = fields.String(validate=validate.Length(1, 64))
    therapist = fields.String(validate=validate.Length(1, 64))
    addons = CommaList(metadata={
        "description": "add-on ids, comma-separated: slots long and dear enough for them, "
                       "with therapists and rooms able to give them"})
    therapist_gender = fields.String(validate=validate.OneOf(GENDERS), metadata={
        "description": "only therapists of this gender"})

    @post_load
    def make(self, data, **kwargs) -> SearchSlots:
        return SearchSlots(data["treatment"], data["duration"], data["from_"], data["to"],
                           data.get("studio"), data.get("therapist"), data.get("addons", ()),
                           data.get("therapist_gender"))

    @validates_schema
    def range_is_short(self, data, **kwargs):
        first, last = data["from_"], data["to"]
        check_order(first, last, "to")
        days = (last - first) + (timedelta(days=1) if not isinstance(last, datetime) else
                                 timedelta())
        if days > timedelta(days=MAX_SEARCH_DAYS):
            raise ValidationError(f"the range spans more than {MAX_SEARCH_DAYS} days", "to")


# RPC params (availability.rpc) ---------------------------------------------------------

class DescribeParams(Schema):
    studio = fields.String(required=True)
    treatment = fields.String(required=True)

    @post_load
    def make(self, data, **kwargs) -> Describe:
        return Describe(**data)


class OrderParams(Schema):
    """What a hold, a reserve and a first-free hold all ask for."""

    studio = fields.String(required=True)
    treatment = fields.String(required=True)
    duration = fields.Integer(required=True)
    therapist = fields.String(load_default=None, allow_none=True)
    addons = fields.List(fields.String(), load_default=(), validate=validate.Length(max=10))
    therapist_gender = fields.String(load_default=None, allow_none=True,
                                     validate=validate.OneOf(GENDERS))


class HoldParams(OrderParams):
    start = instant(required=True)
    hold_id = fields.String(load_default=None, allow_none=True, validate=TOKEN)
    ttl_s = fields.Integer(load_default=None, allow_none=True,
                           validate=validate.Range(1, 24 * 3600))

    @post_load
    def make(self, data, **kwargs) -> HoldSlot:
        return HoldSlot(**{**data, "addons": tuple(data["addons"])})


class ReserveParams(OrderParams):
    start = instant(required=True)
    hold_id = fields.String(required=True, validate=TOKEN)
    booking_id = fields.String(required=True, validate=validate.Length(1, 64))
    prefer = fields.String(load_default=None, allow_none=True)

    @post_load
    def make(self, data, **kwargs) -> Reserve:
        return Reserve(**{**data, "addons": tuple(data["addons"])})


class WindowParams(Schema):
    start = instant(required=True, data_key="from")
    end = instant(required=True, data_key="to")


class HoldFirstParams(OrderParams):
    windows = fields.List(fields.Nested(WindowParams), required=True,
                          validate=validate.Length(1, 10))
    hold_id = fields.String(load_default=None, allow_none=True, validate=TOKEN)
    ttl_s = fields.Integer(load_default=None, allow_none=True,
                           validate=validate.Range(1, 24 * 3600))
    skip = fields.List(instant(), load_default=(), validate=validate.Length(max=1000))

    @post_load
    def make(self, data, **kwargs) -> HoldFirst:
        windows = tuple((w["start"], w["end"]) for w in data["windows"])
        return HoldFirst(**{**data, "windows": windows, "addons": tuple(data["addons"]),
                            "skip": tuple(data["skip"])})


class ConfirmParams(Schema):
    hold_id = fields.String(required=True, validate=TOKEN)
    booking_id = fields.String(required=True, validate=validate.Length(1, 64))

    @post_load
    def make(self, data, **kwargs) -> Confirm:
        return Confirm(**data)


class ReleaseParams(Schema):
    hold_id = fields.String(required=True, validate=TOKEN)

    @post_load
    def make(self, data, **kwargs) -> Release:
        return Release(**data)
