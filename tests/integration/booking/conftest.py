"""The booking app and worker jobs against the session's real Redis (store and broker)
and an availability peer that answers RPC over that broker."""

from __future__ import annotations

from dataclasses import fields

import pytest

from services.booking.app import create_app
from services.booking.bootstrap import Context, bootstrap
from services.common.config import Settings
from services.common.service import Infra
from tests.helpers import ManualClock
from tests.integration.booking.availability import NOW, RunningAvailability, serving
from tests.integration.booking.support import Api


@pytest.fixture(scope="package")
def serving_availability(store):
    """One server for these tests (stopping a consumer thread takes a second); gone
    before other packages' tests, which may serve availability.rpc themselves."""
    settings = Settings(redis_url=store.url, broker_url=store.broker_url)
    with serving(Infra.from_settings(settings)) as running:
        yield running


@pytest.fixture
def availability(serving_availability, settings) -> RunningAvailability:
    """Availability with the demo catalog and an empty ledger."""
    serving_availability.reset()
    return serving_availability


@pytest.fixture
def clock() -> ManualClock:
    """Booking's clock: where availability's stands (see availability.py), running on."""
    return ManualClock.flowing_from(NOW)


@pytest.fixture
def ctx(settings, clock) -> Context:
    return bootstrap(Infra.from_settings(settings), clock)


@pytest.fixture
def app(settings, clock):
    return create_app({f.name: getattr(settings, f.name) for f in fields(settings)
                       if f.name != "extra"}, clock)


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
