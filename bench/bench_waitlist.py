"""Cancel -> waitlist.offered webhook: how soon a freed time reaches the next client.

Two days at Camden's one bars room are fully booked and 100 entries wait for any time
on them. The bookings are cancelled one every CANCEL_EVERY_S; each cancel frees a time
that availability relays (slot.released), booking's worker offers to the first entry
in line (hold_first, the offer committed with its event), and notifications' worker
posts `waitlist.offered` to the partner's endpoint. Latency = webhook received - cancel
sent. Target: p99 < 5 s.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

import requests

from bench.bench_booking import INTAKE, non_overlapping, search
from bench.harness import ROOT, BenchEnv, Stats, WebhookEndpoint, open_windows, row
from services.availability.catalog_loader import dump_catalog, load_file
from services.availability.store import Store
from services.common.redis import connect

WAITING = 100
CANCEL_EVERY_S = 0.25
FIRST_DAY = date.today() + timedelta(days=400)  # clear of the other benchmarks' days


def run(env: BenchEnv, baseline: Stats) -> list[dict]:
    london = dump_catalog(load_file(ROOT / "deploy" / "cities" / "london.yaml"))
    Store(connect(env.redis_url), "london").save_catalog_if_absent(open_windows(london))
    for service in ("availability", "booking", "notifications"):
        env.worker(service)
    booking_url = env.serve("services.booking.wsgi:app")
    endpoint = WebhookEndpoint(lambda headers, body: body["data"]["offer"]["start"])
    notifications_url = env.serve("services.notifications.wsgi:app")
    requests.post(f"{notifications_url}/v1/webhooks", headers=env.auth(), timeout=10, json={
        "url": endpoint.url, "events": ["waitlist.offered"]}).raise_for_status()
    days = [FIRST_DAY, FIRST_DAY + timedelta(days=1)]
    availability_url = env.serve("services.availability.wsgi:app")
    starts = [s for day in days for s in non_overlapping(search(availability_url, env, day,
                                                                day))]
    bookings = [book(booking_url, env, start) for start in starts]
    for i in range(WAITING):
        join(booking_url, env, i, days)
    wait_drained(env)
    sent = cancel_paced(booking_url, env, dict(zip(starts, bookings, strict=True)))
    wait_offered(endpoint, sent)
    latencies = [(endpoint.arrived[s] - at) * 1000 for s, at in sent.items()
                 if s in endpoint.arrived]
    missing = len(sent) - len(latencies)
    span = max(endpoint.arrived.values(), default=0) - min(sent.values())
    stats = Stats(len(latencies), span, latencies, {204: len(latencies), 0: missing})
    endpoint.server.shutdown()
    return [row(f"waitlist: cancel -> waitlist.offered webhook, {WAITING} waiting",
                stats, None, target="p99_ms < 5000", offers=len(latencies))]


def book(url: str, env: BenchEnv, start: str) -> str:
    response = requests.post(f"{url}/v1/bookings", timeout=30, json={
        "studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
        "customer": {"name": "Bench", "email": "bench@example.com"}, "intake": INTAKE},
        headers={**env.auth(), "Idempotency-Key": uuid.uuid4().hex})
    response.raise_for_status()
    return response.json()["id"]


def join(url: str, env: BenchEnv, i: int, days: list[date]) -> None:
    windows = [{"from": f"{day}T00:00:00+00:00", "to": f"{day}T23:59:00+00:00"}
               for day in days]
    response = requests.post(f"{url}/v1/waitlist", timeout=30, json={
        "studio": "camden", "treatment": "ashiatsu", "duration": 60, "windows": windows,
        "customer": {"name": f"Waiter {i}", "email": f"waiter{i}@example.com"},
        "intake": INTAKE}, headers={**env.auth(), "Idempotency-Key": uuid.uuid4().hex})
    response.raise_for_status()


def wait_drained(env: BenchEnv, timeout_s: float = 60) -> None:
    """Until booking's worker has handled every waitlist.joined (its queue is empty)."""
    broker = connect(env.redis_url)
    deadline = time.monotonic() + timeout_s
    while broker.llen("booking.waitlist") and time.monotonic() < deadline:
        time.sleep(0.05)


def cancel_paced(url: str, env: BenchEnv, bookings: dict[str, str]) -> dict[str, float]:
    sent = {}
    for start, booking_id in bookings.items():
        sent[start] = time.perf_counter()
        requests.post(f"{url}/v1/bookings/{booking_id}/cancel", headers=env.auth(), json={},
                      timeout=30).raise_for_status()
        time.sleep(CANCEL_EVERY_S)
    return sent


def wait_offered(endpoint: WebhookEndpoint, sent: dict[str, float], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not sent.keys() <= endpoint.arrived.keys() and time.monotonic() < deadline:
        time.sleep(0.01)
