"""What booking's integration tests share: the request bodies they send, the
booking API as one API key sees it, and the waitlist as its worker runs it."""

from __future__ import annotations

import uuid

from services.availability.handlers import reservations
from services.booking.handlers import waitlist
from tests.helpers import assert_problem, bearer

__all__ = ["CUSTOMER", "INTAKE", "START", "TEN", "Api", "assert_problem", "direct_booking",
           "entry", "full_at_ten", "join", "joined", "run_news"]

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


# the waitlist

TEN = {"from": "2027-03-10T10:00:00+00:00", "to": "2027-03-10T11:00:00+00:00"}


def join(api: Api, name: str, windows=(TEN,), **changes):
    body = {"studio": "camden", "treatment": "ashiatsu", "duration": 60,
            "windows": list(windows), "intake": INTAKE,
            "customer": {**CUSTOMER, "name": name, "email": f"{name.lower()}@example.com"},
            **changes}
    return api.post("/v1/waitlist", json=body, headers={"Idempotency-Key": f"join-{name}"})


def joined(api: Api, name: str, windows=(TEN,), **changes) -> dict:
    response = join(api, name, windows, **changes)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def entry(api: Api, entry_id: str) -> dict:
    return api.get(f"/v1/waitlist/{entry_id}").get_json()


def run_news(ctx, availability) -> list[str]:
    """What booking's worker does with its own waitlist.joined events and with
    availability's news of freed time: the handlers, in order. Returns the types of
    the events booking published meanwhile (relayed here)."""
    published = []
    for envelope in ctx.store.due_events():
        if envelope.type == "waitlist.joined":
            waitlist.on_joined(ctx, envelope)
        published.append(envelope.type)
        ctx.store.mark_sent(envelope.id)
    for raw, when in availability.ctx.store.freed("camden"):
        waitlist.on_time_freed(ctx, reservations.freed_envelope(availability.ctx, "camden",
                                                                raw, when))
        availability.ctx.store.relayed("camden", [raw])
    published += [envelope.type for envelope in ctx.store.due_events()]
    return published


def full_at_ten(partner) -> dict:
    """The only bars room, taken at 10:00 on 10 March."""
    response = partner.book(direct_booking(customer={**CUSTOMER, "email": "first@example.com"}))
    assert response.status_code == 201, response.get_json()
    return response.get_json()
