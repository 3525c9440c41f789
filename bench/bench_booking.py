"""Booking create end to end, through the real processes under the project's gunicorn
settings: each request screens the intake (RPC describe, cached by catalog version),
commits the booking pending, reserves therapist and room over the bus (one RPC) and
commits it confirmed with its outbox event. Requests/s as a ratio of the bare Flask
baseline (target >= 0.2), with p50/p99; once with the broker on the store's Redis
(the default) and, where RabbitMQ answers at SPA_BENCH_AMQP_URL (default: the vhost
`spa-bench` on 127.0.0.1:5672), once with RabbitMQ as the broker.

Every request books a different free slot (found with the slot search first), so each
one does the whole saga: a 409 would be a cheaper request and flatter the figure.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta

import requests

from bench.harness import ROOT, BenchEnv, Request, Stats, load, open_windows, row, rss_mb
from services.availability.catalog_loader import dump_catalog, load_file
from services.availability.store import Store
from services.common import bus
from services.common.config import Settings
from services.common.service import Infra

WARM_UP = 100
BOOKINGS = 1000
FIRST_DAY = date.today() + timedelta(days=90)  # clear of the days other benchmarks fill
CLEANUP_MIN = 15  # ashiatsu's buffer after the treatment, in the demo catalog
INTAKE = {"pregnant": False, "recent_surgery": False, "recent_injury": False,
          "pressure": "medium"}


def run(env: BenchEnv, baseline: Stats) -> list[dict]:
    infra = Infra.from_settings(Settings(redis_url=env.redis_url, city="london",
                                         data_key=env.env["SPA_DATA_KEY"]))
    # A thousand bookings in Camden's one bars room need more than the demo's 60 days.
    london = dump_catalog(load_file(ROOT / "deploy" / "cities" / "london.yaml"))
    Store(infra.redis, "london").save_catalog_if_absent(open_windows(london))
    starts = free_starts(env.serve("services.availability.wsgi:app"), env,
                         2 * (WARM_UP + BOOKINGS))
    rows = create(env, baseline, starts[:WARM_UP + BOOKINGS], "Redis", {})
    amqp = os.environ.get("SPA_BENCH_AMQP_URL", AMQP_URL)
    if not rabbitmq_answers(amqp):
        return [*rows, row(f"booking: create, RabbitMQ broker: skipped ({amqp} does not "
                           "answer; set SPA_BENCH_AMQP_URL)")]
    broker = {"SPA_BROKER_URL": amqp}
    return [*rows, create(env, baseline, starts[WARM_UP + BOOKINGS:], "RabbitMQ", broker)[0]]


AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/spa-bench"


def create(env: BenchEnv, baseline: Stats, starts: list[str], broker: str,
           extra_env: dict) -> list[dict]:
    """The processes of one booking (its app and both workers) on one broker; the
    booking row, then each process's memory idle and after the bookings."""
    processes = {"availability worker": env.worker("availability", extra_env),
                 "booking worker": env.worker("booking", extra_env)}
    url = env.serve("services.booking.wsgi:app", extra_env)
    processes["booking web (gunicorn, 2 workers)"] = env.processes[-1]
    idle = {name: rss_mb(process.pid) for name, process in processes.items()}
    load(url, plan(env, starts[:WARM_UP]), WARM_UP)
    stats = load(url, plan(env, starts[WARM_UP:]), BOOKINGS)
    after = {name: rss_mb(process.pid) for name, process in processes.items()}
    for process in processes.values():
        env.stop_process(process)
    booked = row(f"booking: create (one reserve RPC, 12 Redis commands), {broker} broker",
                 stats, baseline, target="ratio >= 0.2", created=stats.statuses.get(201, 0))
    return [booked, *(row(f"memory: {name} RSS MB, idle -> after {WARM_UP + BOOKINGS} "
                          f"bookings", rss_idle_mb=idle[name], rss_after_mb=after[name])
                      for name in processes)]


def rabbitmq_answers(url: str) -> bool:
    try:
        with bus.broker_connection(url) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not here
        return False


def plan(env: BenchEnv, starts: list[str]) -> list[Request]:
    return [Request("POST", "/v1/bookings", body=booking(start), headers={
        **env.auth(), "Idempotency-Key": uuid.uuid4().hex}) for start in starts]


def booking(start: str) -> dict:
    return {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            "customer": {"name": "Bench Customer", "email": "bench@example.com"},
            "intake": INTAKE}


def free_starts(availability_url: str, env: BenchEnv, count: int) -> list[str]:
    """Starts that do not overlap one another: the demo Camden has one bars room."""
    starts: list[str] = []
    day = FIRST_DAY
    while len(starts) < count:
        starts += non_overlapping(search(availability_url, env, day, day + timedelta(30)))
        day += timedelta(31)
    return starts[:count]


def search(url: str, env: BenchEnv, first: date, last: date) -> list[str]:
    response = requests.get(f"{url}/v1/slots", headers=env.auth(), timeout=30, params={
        "treatment": "ashiatsu", "duration": 60, "studio": "camden", "from": first,
        "to": last})
    response.raise_for_status()
    return [slot["start"] for slot in response.json()["items"]]


def non_overlapping(starts: list[str]) -> list[str]:
    picked: list[str] = []
    free_from = datetime.min.replace(tzinfo=None)
    for start in starts:
        instant = datetime.fromisoformat(start)
        if instant.replace(tzinfo=None) >= free_from:
            picked.append(start)
            free_from = (instant + timedelta(minutes=60 + CLEANUP_MIN)).replace(tzinfo=None)
    return picked
