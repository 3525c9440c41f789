"""What e2e tests do as a partner does: search slots, book directly, list bookings."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from tests.e2e.stack import london_instant

CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com"}
INTAKE = {"pregnant": False, "recent_surgery": False, "recent_injury": False,
          "pressure": "firm"}


def slots(stack, day: str, **params) -> list[dict]:
    response = stack.get("/v1/slots", key="partner", params={
        "treatment": "ashiatsu", "duration": 60, "studio": "camden", "from": day, "to": day,
        **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def offered(stack, day: str) -> set[str]:
    return {slot["start"] for slot in slots(stack, day)}


def direct(start: str, **changes) -> dict:
    return {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            "customer": CUSTOMER, "intake": INTAKE, **changes}


def book(stack, body: dict, key: str | None = None, api_key: str = "partner", **kwargs):
    return stack.post("/v1/bookings", key=api_key, json=body,
                      headers={"Idempotency-Key": key or uuid.uuid4().hex}, **kwargs)


def bookings_on(stack, day: str, **params) -> list[dict]:
    next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    response = stack.get("/v1/bookings", params={
        "from": london_instant(day, "00:00"), "to": london_instant(next_day, "00:00"),
        "limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def separate_starts(workdays: list[str]) -> list[str]:
    """Ashiatsu starts at camden that never overlap (one bars room; 60 minutes and 15 of
    cleanup): ten a workday, from 08:00 to 19:15."""
    return [london_instant(day, f"{minutes // 60:02d}:{minutes % 60:02d}")
            for day in workdays for minutes in range(8 * 60, 19 * 60 + 16, 75)]
