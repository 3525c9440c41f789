"""The booking app and worker jobs against the session's real Redis (store and broker)
and an availability peer that answers RPC over that broker."""

from __future__ import annotations

import uuid
from dataclasses import fields

import pytest

from services.booking.app import create_app
from services.booking.bootstrap import Context, bootstrap
from services.common.config import Settings
from services.common.service import Infra
from tests.conftest import bearer
from tests.integration.booking.availability import RunningAvailability, serving

START = "2027-03-10T10:00:00+00:00"
INTAKE = {"pregnant": False, "recent_surgery": False, "recent_injury": False,
          "pressure": "medium"}
CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}


def direct_booking(start: str = START, **changes) -> dict:
    body = {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            "customer": CUSTOMER, "intake": INTAKE}
    return {**body, **changes}


@pytest.fixture(scope="package")
def serving_availability(redis_server):
    """One server for these tests (stopping a consumer thread takes a second); gone
    before other packages' tests, which may serve availability.rpc themselves."""
    with serving(Infra.from_settings(Settings(redis_url=redis_server.url))) as running:
        yield running


@pytest.fixture
def availability(serving_availability, settings) -> RunningAvailability:
    """Availability with the demo catalog and an empty ledger."""
    serving_availability.reset()
    return serving_availability


@pytest.fixture
def ctx(settings) -> Context:
    return bootstrap(Infra.from_settings(settings))


@pytest.fixture
def app(settings):
    return create_app({f.name: getattr(settings, f.name) for f in fields(settings)
                       if f.name != "extra"})


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


@pytest.fixture
def admin(app, api_keys) -> Api:
    return Api(app, api_keys["admin"])


@pytest.fixture
def partner(app, api_keys) -> Api:
    """The partner of camden, where every test books."""
    return Api(app, api_keys["partner"])


@pytest.fixture
def other_partner(app, api_keys) -> Api:
    return Api(app, api_keys["other_partner"])


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert body["code"] == code
    return body
