"""The real availability service's RPC methods, served over the session's broker from
a worker thread, with the London demo catalog. Its clock stands a few days before the
dates these tests book (inside London's booking window, whatever today is). Two
handles for failure tests: the clock can be moved on (holds expire without waiting)
and a method can be made slow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.availability import queues as availability_queues
from services.availability.bootstrap import Context, bootstrap
from services.availability.catalog_loader import load_city_if_empty
from services.availability.domain import Reservation
from services.common import bus
from services.common.devstack import ROOT
from services.common.rpc import RpcServer, rpc_queue
from tests.helpers import ManualClock, running_worker

LONDON = ROOT / "deploy" / "cities" / "london.yaml"
NOW = datetime(2027, 3, 5, 9, 0, tzinfo=UTC)  # the tests book from 10 March to 1 May 2027


@dataclass
class RunningAvailability:
    ctx: Context
    clock: ManualClock
    stall_s: dict[str, float] = field(default_factory=dict)  # method -> delay before acting

    def reset(self) -> None:
        """A fresh city after the test database was flushed."""
        self.clock.reset()
        self.stall_s.clear()
        load_city_if_empty(self.ctx.infra, LONDON)
        with self.ctx.infra.connection() as connection:
            bus.declare(connection, [rpc_queue("availability")])

    def reservations(self) -> list[Reservation]:
        """What the ledger blocks now: confirmed reservations and unexpired holds."""
        everything = self.ctx.store.reservations({"camden": (0, 2**32)})
        return [r for r in everything if r.is_live(self.ctx.now())]

    def methods(self) -> dict[str, Callable[[dict], dict]]:
        return {name: self._stalling(name, method)
                for name, method in availability_queues.methods(self.ctx).items()}

    def _stalling(self, name: str, method: Callable[[dict], dict]) -> Callable[[dict], dict]:
        def call(params: dict) -> dict:
            time.sleep(self.stall_s.get(name, 0))
            return method(params)
        return call


@contextmanager
def serving(infra) -> Iterator[RunningAvailability]:
    clock = ManualClock(NOW)
    running = RunningAvailability(bootstrap(infra, clock), clock)
    server = RpcServer("availability", running.methods())
    with infra.connection() as connection, running_worker(connection, rpc_servers=[server]):
        yield running
