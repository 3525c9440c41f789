"""Booking create end to end, through the real processes under the project's gunicorn
settings: each request screens the intake (RPC describe), holds and confirms over the
bus (RPC hold, confirm) and commits the booking with its outbox event. Requests/s as a
ratio of the bare Flask baseline (target >= 0.2), with p50/p99.

Every request books a different free slot (found with the slot search first), so each
one does the whole saga: a 409 would be a cheaper request and flatter the figure.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import requests

from bench.harness import ROOT, BenchEnv, Request, Stats, load, open_windows, row
from services.availability.catalog_loader import dump_catalog, load_file
from services.availability.store import Store
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
    env.worker("availability")
    env.worker("booking")
    starts = free_starts(env.serve("services.availability.wsgi:app"), env, WARM_UP + BOOKINGS)
    url = env.serve("services.booking.wsgi:app")
    load(url, plan(env, starts[:WARM_UP]), WARM_UP)
    stats = load(url, plan(env, starts[WARM_UP:]), BOOKINGS)
    return [row("booking: create (describe + hold + confirm over the bus)", stats, baseline,
                target="ratio >= 0.2", created=stats.statuses.get(201, 0))]


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
