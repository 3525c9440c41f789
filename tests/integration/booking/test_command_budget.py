"""What one booking costs the system of record: the Redis commands booking and
availability (its RPC methods) send for one direct booking, as the server's MONITOR
sees them. A script counts once (what runs inside it costs no round trip); each
command of a pipeline counts. The broker is another Redis here, so bus traffic is
not counted."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace

import pytest

from services.booking.app import create_app
from services.common.config import Settings
from services.common.redis import EmbeddedRedis, connect
from services.common.service import Infra
from tests.helpers import ManualClock
from tests.integration.booking.availability import NOW, serving
from tests.integration.booking.support import Api, direct_booking

BUDGET = 20
STOP = "budget-test-stop"
CONNECTING = {"HELLO", "PING", "CLIENT"}  # a new connection's handshake (ours, to stop)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("broker"))
    server.start()
    yield server
    server.stop()


class Monitor:
    """Every command clients send to a Redis server meanwhile (a script's own calls,
    which MONITOR marks `lua`, left out)."""

    def __init__(self, url: str):
        self.url = url
        self.sent: Counter = Counter()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Monitor:
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def _watch(self) -> None:
        with connect(self.url).monitor() as monitor:
            self.ready.set()
            while True:
                seen = monitor.next_command()
                if STOP in seen["command"]:
                    return
                name = seen["command"].split()[0].upper()
                if seen.get("client_type") != "lua" and name not in CONNECTING:
                    self.sent[name] += 1

    def __exit__(self, *exc) -> None:
        connect(self.url).echo(STOP)
        self.thread.join(5)


def test_a_booking_costs_at_most_the_budget_in_redis_commands(one_redis, settings, broker,
                                                              api_keys):
    settings = replace(settings, broker_url=broker.url)
    with serving(Infra.from_settings(Settings(redis_url=settings.redis_url,
                                              broker_url=broker.url))) as availability:
        availability.reset()
        app = create_app({"redis_url": settings.redis_url, "broker_url": broker.url,
                          "data_key": settings.data_key}, ManualClock.flowing_from(NOW))
        partner = Api(app, api_keys["partner"])
        warm = partner.book(direct_booking("2027-03-10T08:00:00+00:00"))  # caches warm
        assert warm.status_code == 201, warm.get_json()
        with Monitor(settings.redis_url) as watched:
            response = partner.book(direct_booking("2027-03-10T10:00:00+00:00"))
    assert response.status_code == 201, response.get_json()
    used = sum(watched.sent.values())
    assert used <= BUDGET, f"{used} commands: {dict(watched.sent)}"
