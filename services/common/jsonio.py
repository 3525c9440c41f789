"""JSON of our dataclasses without `dataclasses.asdict`, which deep-copies every nested
dict and list before anything is written (a booking's event context is most of it)."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import date
from decimal import Decimal


def dumps(value: object) -> str:
    return json.dumps(value, default=_plain, separators=(",", ":"))


def shallow(record: object) -> dict:
    """A dataclass's fields as a dict; nested values are shared, not copied."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return shallow(value)
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
