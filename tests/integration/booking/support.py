"""What booking's integration tests share: the request bodies they send and the
booking API as one API key sees it."""

from __future__ import annotations

import uuid

from tests.helpers import assert_problem, bearer

__all__ = ["CUSTOMER", "INTAKE", "START", "Api", "assert_problem", "direct_booking"]

START = "2027-03-10T10:00:00+00:00"
INTAKE = {"pregnant": False, "recent_surgery": False, "recent_injury": False,
          "pressure": "medium"}
CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}


def direct_booking(start: str = START, **changes) -> dict:
    body = {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            "customer": CUSTOMER, "intake": INTAKE}
    return {**body, **changes}


class Api:
    """The booking API as one API key sees it."""

    def __init__(self, app, api_key: str):
        self.client = app.test_client()
        self.headers = bearer(api_key)

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, json=None, headers: dict | None = None, **kwargs):
        return self.client.post(path, json=json, headers={**self.headers, **(headers or {})},
                                **kwargs)

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

    def book(self, body: dict, key: str | None = None):
        idempotency = {"Idempotency-Key": key or uuid.uuid4().hex}
        return self.post("/v1/bookings", json=body, headers=idempotency)
