"""marshmallow pieces every service's edge uses the same way."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields

YEARS = (2000, 2200)  # outside these a date is a typo, and date arithmetic may overflow
MAX_AMOUNT = Decimal(1_000_000)  # no treatment or add-on costs more: a bigger one is a typo


def within_years(moment: date) -> date:
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise ValidationError(f"the year must lie between {YEARS[0]} and {YEARS[1]}")
    return moment


def instant(**kwargs) -> fields.AwareDateTime:
    """An RFC 3339 instant; an offset is required (a bare local time is ambiguous)."""
    return fields.AwareDateTime(format="iso", validate=within_years, **kwargs)


def in_utc(data: dict, *names: str) -> dict:
    """`data` with the named instants moved to UTC (the zone a ledger and a log keep)."""
    return {**data, **{n: data[n].astimezone(UTC) for n in names if data.get(n)}}


class StrictBoolean(fields.Boolean):
    """true or false, and nothing else: not 0, 1, "yes" or "false" (a health answer
    is not guessed from a near miss)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def _positive(amount) -> None:
    if amount <= 0:
        raise ValidationError("must be more than 0")


def _not_negative(amount) -> None:
    if amount < 0:
        raise ValidationError("must not be negative")


def _not_absurd(amount) -> None:
    if amount > MAX_AMOUNT:
        raise ValidationError(f"must not be more than {MAX_AMOUNT:,.2f}")


class Amount(fields.Decimal):
    """A money amount in the city's currency: more than 0 (or 0 too, `allow_zero`), at
    most MAX_AMOUNT, with at most two decimal places (never rounded: "1.005" is refused;
    the catalog checks the city currency's own minor unit), written as a decimal string
    ("120.00") so no float ever rounds it. Apps document it as a string
    (`register_field(Amount, "string", "decimal")`)."""

    def __init__(self, allow_zero: bool = False, **kwargs):
        check = _not_negative if allow_zero else _positive
        super().__init__(places=2, as_string=True, validate=[check, _not_absurd],
                         allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):  # a JSON or YAML number may already be rounded
            raise ValidationError("write the amount as a decimal string, e.g. \"95.00\"")
        amount = super()._deserialize(value, attr, data, **kwargs)  # two places
        if amount != Decimal(value):
            raise ValidationError(f"at most 2 decimal places: {value.strip()!r} would be "
                                  "rounded")
        return amount


class MoneySchema(Schema):
    amount = fields.String(metadata={"example": "120.00", "description": "a decimal string"})
    currency = fields.String(metadata={"example": "GBP"})
