"""Event -> webhook received: how long a partner waits to hear of a booking.

A burst of booking.created events is published at once onto the broker; the
notifications worker (its real process) sends each one's webhook as it handles the
event, and the emails (into the maildir) once the burst is handled. Latency per
event = received by the endpoint - published. Target: p99 < 500 ms. Measured with one
worker, then with a second replica on the same queue (the way to scale: claims keep
every send single).
"""

from __future__ import annotations

import time

import requests

from bench.harness import BenchEnv, Stats, WebhookEndpoint, row
from services.common import bus
from services.common.redis import connect
from services.notifications import queues
from services.notifications.store import NotificationStore
from tests.unit.notifications.samples import booking_payload

BURST = 100
WARM_UP = 10


def run(env: BenchEnv, baseline: Stats) -> list[dict]:
    endpoint = WebhookEndpoint(lambda headers, body: headers["webhook-id"])
    api = env.serve("services.notifications.wsgi:app")
    response = requests.post(f"{api}/v1/webhooks", headers=env.auth(), timeout=10,
                             json={"url": endpoint.url, "events": ["booking.created"]})
    response.raise_for_status()
    rows = []
    with bus.broker_connection(env.redis_url) as connection:
        bus.declare(connection, queues.QUEUES)
        for workers in (1, 2):
            env.worker("notifications")
            stats = _measure(connection, endpoint)
            _wait_emails_sent(env)  # the next row starts with nothing left to send
            rows.append(row(f"notifications: event -> webhook, {BURST} at once, "
                            f"{workers} worker(s)", stats, baseline, target="p99_ms < 500"))
    endpoint.server.shutdown()
    return rows


def _measure(connection, endpoint: WebhookEndpoint) -> Stats:
    _send_and_wait(connection, endpoint, WARM_UP)
    published, started = _burst(connection)
    _wait_all(endpoint, published)
    return _stats(endpoint, published, started)


def _wait_emails_sent(env: BenchEnv, timeout_s: float = 60) -> None:
    """Emails go after the burst's webhooks (handlers.notify): wait until none is due."""
    store = NotificationStore(connect(env.redis_url), "london")
    deadline = time.monotonic() + timeout_s
    while store.due_ids(time.time()) and time.monotonic() < deadline:
        time.sleep(0.05)


def _event() -> bus.Envelope:
    return bus.Envelope(type="booking.created", payload=booking_payload(), source="booking",
                        city="london")


def _send_and_wait(connection, endpoint: WebhookEndpoint, count: int) -> None:
    """Warm up: a new worker's first events pay for imports and template compiling."""
    published, _ = _burst(connection, count)
    _wait_all(endpoint, published)


def _burst(connection, count: int = BURST) -> tuple[dict[str, float], float]:
    publisher = bus.Publisher(connection)
    events = [_event() for _ in range(count)]
    published, started = {}, time.perf_counter()
    for envelope in events:
        publisher.publish(envelope)
        published[envelope.id] = time.perf_counter()
    return published, started


def _wait_all(endpoint: WebhookEndpoint, published: dict[str, float],
              timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not published.keys() <= endpoint.arrived.keys() and time.monotonic() < deadline:
        time.sleep(0.01)


def _stats(endpoint: WebhookEndpoint, published: dict[str, float], started: float) -> Stats:
    latencies = [(endpoint.arrived[i] - at) * 1000 for i, at in published.items()
                 if i in endpoint.arrived]
    last = max((endpoint.arrived[i] for i in published if i in endpoint.arrived),
               default=started)
    missing = len(published) - len(latencies)
    return Stats(len(latencies), last - started, latencies, {204: len(latencies), 0: missing})
