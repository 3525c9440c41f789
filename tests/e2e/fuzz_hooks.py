"""schemathesis hooks for `test_fuzz.py`: some of the valid bookings, holds and
reschedules it generates are made realistic (a real studio, treatment and a start on
the fuzz stack's own days), so that the stateful phase has real bookings to follow
its links with: read, cancel, reschedule, complete. Requests meant to be invalid
are left as they are."""

from __future__ import annotations

import os
import uuid

import schemathesis
from hypothesis import strategies as st

from tests.e2e.partner import INTAKE
from tests.e2e.stack import london_instant

DAYS = [day for day in os.environ.get("SPA_FUZZ_DAYS", "").split(",") if day]
STARTS = [london_instant(day, f"{hour:02d}:{minute:02d}") for day in DAYS
          for hour in range(8, 20) for minute in (0, 15, 30, 45)]
CUSTOMER = {"name": "Fuzz Client", "email": "fuzz@example.com"}


def held(body: dict, start: str) -> dict:
    return {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start}


def booked(body: dict, start: str) -> dict:
    """Always with the customer inline: without it (or with a made-up client id) a
    booking is refused, and the stateful phase would have no booking to follow."""
    return {**held(body, start), "customer": CUSTOMER, "intake": INTAKE}


REALISTIC = {
    ("POST", "/v1/bookings"): booked,
    ("POST", "/v1/holds"): held,
    ("POST", "/v1/bookings/{booking_id}/reschedule"): lambda body, start: {"start": start},
}


@schemathesis.hook
def flatmap_case(ctx, case):
    make = REALISTIC.get((case.method.upper(), ctx.operation.path))
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if not (make and positive and STARTS and isinstance(case.body, dict)):
        return st.just(case)

    def realistic(start: str):
        case.body = make(case.body, start)
        if case.headers and "Idempotency-Key" in case.headers:
            # A key the generator used before with another body is a 409, not a booking.
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        return case

    return st.one_of(st.just(case), st.sampled_from(STARTS).map(realistic))
