"""Availability against the session's real Redis (store and broker), with the demo
London catalog loaded and a clock the tests move on instead of sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import pytest

from services.availability import queues
from services.availability.app import create_app
from services.availability.bootstrap import Context, bootstrap
from services.availability.catalog_loader import load_city_if_empty
from services.common import bus
from services.common.rpc import RpcClient, RpcServer
from services.common.service import Infra
from tests.helpers import running_worker
from tests.unit.availability.catalogs import LONDON_FILE, at

NOW = at("2027-01-04T09:00:00+00:00")  # the tests' "now": the day before DAY
DAY = "2027-01-05"  # a Tuesday: maya 08-16 and jonas 13-21 do ashiatsu at camden


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


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
def app(infra, settings):
    return create_app({f.name: getattr(settings, f.name) for f in fields(settings)
                       if f.name != "extra"})


@contextmanager
def serving(ctx: Context) -> Iterator[RpcClient]:
    """The worker's RpcServer in a thread on the real broker, and a client of it."""
    server = RpcServer(queues.SERVICE, queues.methods(ctx))
    with bus.broker_connection(ctx.infra.broker_url) as connection, \
            running_worker(connection, rpc_servers=[server]), \
            bus.broker_connection(ctx.infra.broker_url) as client_connection:
        yield RpcClient(client_connection, queues.SERVICE, timeout_s=5)


def hold_params(start: str = f"{DAY}T10:00:00+00:00", **changes) -> dict:
    return {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            **changes}
