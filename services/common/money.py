"""Money: an exact decimal amount in a currency. No float ever touches it; a share of
an amount (a fee) is rounded half-up to the currency's minor unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units where they are not 2 (the cities we might open in).
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3}


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_json(cls, data: dict) -> Money:
        return cls(Decimal(str(data["amount"])), data["currency"])

    def to_json(self) -> dict:
        return {"amount": str(self.amount.quantize(minor_unit(self.currency))),
                "currency": self.currency}

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def share(self, percent: Decimal) -> Money:
        """`percent` of this amount, rounded half-up to the currency's minor unit."""
        exact = self.amount * Decimal(percent) / 100
        return Money(exact.quantize(minor_unit(self.currency), rounding=ROUND_HALF_UP),
                     self.currency)

    def __str__(self) -> str:
        return f"{self.to_json()['amount']} {self.currency}"
