"""Availability against the session's real Redis (store and broker), with the demo
London catalog loaded and a clock the tests move on instead of sleeping."""

from __future__ import annotations

from dataclasses import fields

import pytest

from services.availability import queues
from services.availability.app import create_app
from services.availability.bootstrap import Context, bootstrap
from services.availability.catalog_loader import load_city_if_empty
from services.common.service import Infra
from tests.helpers import ManualClock, bearer
from tests.integration.availability.support import NOW
from tests.unit.availability.catalogs import LONDON_FILE


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def infra(settings) -> Infra:
    infra = Infra.from_settings(settings)
    load_city_if_empty(infra, LONDON_FILE)
    return infra


@pytest.fixture
def ctx(infra, clock) -> Context:
    return bootstrap(infra, clock)


@pytest.fixture
def rpc(ctx) -> dict:
    """The RPC methods as the worker serves them (params validated at the edge)."""
    return queues.methods(ctx)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def as_admin(api_keys):
    return bearer(api_keys["admin"])


@pytest.fixture
def as_partner(api_keys):
    return bearer(api_keys["partner"])  # camden only


@pytest.fixture
def app(infra, settings, clock):
    """The HTTP app on the tests' clock, as the worker's RPC methods are."""
    return create_app({f.name: getattr(settings, f.name) for f in fields(settings)
                       if f.name != "extra"}, clock)
