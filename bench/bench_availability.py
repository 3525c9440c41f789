"""Slot search under load, through the real app under the project's gunicorn settings.

- one studio, 7 days, the same search repeated (answered from the slot cache, see
  services/availability/slot_cache.py): requests/s as a ratio of bare Flask,
  beside an authenticated catalog read for scale; and the same search computed
  every time (a second server with the caches off, SPA_SLOT_CACHE_DAYS=0);
- city-wide, 10 studios, 14 days, one search at a time (the wait a customer sees):
  every search computed (caches off), p50/p99; and with the caches on, each search
  right after a hold at one studio (one studio-day changed since the last one);
- one studio, 7 days: search time with 100,000 past bookings vs 1,000 (target p50 <=
  1.2x): two identical studios, one with each history, timed in alternation.

The catalog is the demo London plus synthetic studios built like Camden; the searched
fortnight carries real holds, the past carries confirmed bookings.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import requests

from bench.harness import ROOT, BenchEnv, Request, Stats, load, open_windows, row, rss_mb
from services.availability.bootstrap import bootstrap
from services.availability.catalog_loader import dump_catalog, load_file, parse_catalog
from services.availability.commands import SearchSlots
from services.availability.domain import Money, Reservation
from services.availability.handlers import queries
from services.availability.queues import methods
from services.availability.slot_cache import DayCache, SlotCache
from services.availability.store import Store, encode
from services.common.auth import Principal
from services.common.config import Settings
from services.common.errors import SpaError
from services.common.service import Infra

LONDON_FILE = ROOT / "deploy" / "cities" / "london.yaml"
STUDIOS = 10
SEARCHES = 3000
HISTORY_SEARCHES = 300
CITY_SEARCHES = 100
FIRST = datetime.combine(datetime.now(UTC).date() + timedelta(days=14), datetime.min.time(),
                         UTC)


def run(env: BenchEnv, baseline: Stats) -> list[dict]:
    infra = Infra.from_settings(Settings(redis_url=env.redis_url, city="london",
                                         data_key=env.env["SPA_DATA_KEY"]))
    store = Store(infra.redis, "london")
    store.save_catalog_if_absent(synthetic_city(STUDIOS))
    book_upcoming(infra, days=14)
    seed_past(store, "camden", 1_000)
    seed_past(store, "s0", 100_000)  # s0 is built exactly like camden
    url = env.serve("services.availability.wsgi:app")
    server, idle_mb = env.processes[-1], rss_mb(env.processes[-1].pid)
    uncached = env.serve("services.availability.wsgi:app", {"SPA_SLOT_CACHE_DAYS": "0"})
    floor = measure(url, env, ["/v1/treatments"])
    repeated = measure(url, env, [search(7, "camden")])
    computed = measure(uncached, env, distinct(SEARCHES, 7, "camden"))
    city_wide = one_at_a_time(uncached, env, distinct(CITY_SEARCHES, 14))
    one_changed = after_one_change(infra, url, env)
    few, many = history(infra)
    memory = row(f"memory: availability web (gunicorn, 2 workers) RSS MB, idle -> after "
                 f"{2 * SEARCHES + CITY_SEARCHES} searches (caches bounded)",
                 rss_idle_mb=idle_mb, rss_after_mb=rss_mb(server.pid))
    return [memory,
        # What any authenticated read costs here (API key + rate limit, catalog version,
        # JSON): the floor under the cached search, for scale.
        row("availability: GET /v1/treatments (auth + catalog read), for scale", floor,
            baseline),
        row("availability: slots 1 studio x 7 d, repeated (cached)", repeated, baseline,
            target="ratio >= 0.6"),
        row("availability: slots 1 studio x 7 d, each computed (caches off)", computed,
            baseline, target="ratio >= 0.3"),
        row(f"availability: slots city-wide {STUDIOS} studios x 14 d, cold (caches off)",
            city_wide, target="p50_ms < 60"),
        row(f"availability: slots city-wide {STUDIOS} studios x 14 d, one studio changed",
            one_changed, target="p99_ms < 30"),
        row("availability: search time 1 studio x 7 d, 1,000 past bookings", few),
        row("availability: search time 1 studio x 7 d, 100,000 past bookings", many,
            target="p50_vs_1000 <= 1.2", p50_vs_1000=round(many.p50 / few.p50, 3)),
    ]


def history(infra: Infra) -> tuple[Stats, Stats]:
    """Search time (store read + engine, no cache, in this process: HTTP noise would
    drown a few percent) at a studio with 1,000 and one with 100,000 past bookings,
    alternated so that a busy machine weighs on both alike."""
    ctx, admin = bootstrap(infra), Principal("bench", "admin")
    timings: dict[str, list[float]] = {"camden": [], "s0": []}
    for _ in range(HISTORY_SEARCHES):
        for studio, found in timings.items():
            ctx.slots, ctx.days = SlotCache(), DayCache()
            search = SearchSlots("relaxation", 60, FIRST.date(),
                                 FIRST.date() + timedelta(days=6), studio)
            started = time.perf_counter()
            queries.search_slots(ctx, admin, search)
            found.append((time.perf_counter() - started) * 1000)
    return tuple(Stats(len(ms), sum(ms) / 1000, ms, {200: len(ms)})
                 for ms in timings.values())


def after_one_change(infra: Infra, url: str, env: BenchEnv, rounds: int = 300) -> Stats:
    """A city-wide search right after a hold at one studio-day (studios and days in
    turn), one at a time."""
    hold = methods(bootstrap(infra))["hold"]
    studios = sorted(bootstrap(infra).catalog().studios)

    def one_change(n: int) -> None:
        start = FIRST + timedelta(days=n % 14, hours=9, minutes=15 * (n // 14 % 4))
        with contextlib.suppress(SpaError):
            hold({"studio": studios[n % len(studios)], "treatment": "relaxation",
                  "duration": 60, "start": start.isoformat(), "ttl_s": 86400})

    return one_at_a_time(url, env, [search(14)] * rounds, before_each=one_change)


def one_at_a_time(url: str, env: BenchEnv, paths: list[str],
                  before_each: Callable[[int], None] | None = None) -> Stats:
    """Each search timed alone on one keep-alive connection (after a first, untimed)."""
    timings, statuses = [], {}
    with requests.Session() as session:
        session.headers.update(env.auth())
        session.get(url + paths[0])  # connections; with caches, every studio-day
        for n, path in enumerate(paths):
            if before_each:
                before_each(n)
            began = time.perf_counter()
            status = session.get(url + path).status_code
            timings.append((time.perf_counter() - began) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
    return Stats(len(paths), sum(timings) / 1000, timings, statuses)


def measure(url: str, env: BenchEnv, paths: list[str], warm_up: int = 200) -> Stats:
    plan = [Request("GET", path, headers=env.auth()) for path in paths]
    load(url, plan[:1], warm_up)  # connections, the catalog cache
    return load(url, plan, len(plan) if len(plan) > 1 else SEARCHES)


def search(days: int, studio: str | None = None, first: datetime = FIRST) -> str:
    where = f"&studio={studio}" if studio else ""
    last = first + timedelta(days=days)
    return (f"/v1/slots?treatment=relaxation&duration=60&from={quote(first.isoformat())}"
            f"&to={quote(last.isoformat())}{where}")


def distinct(count: int, days: int, studio: str | None = None) -> list[str]:
    """`count` searches of the same days, each a minute apart in its start instant, so
    no two share a cache entry: every one is computed."""
    return [search(days, studio, FIRST + timedelta(minutes=n)) for n in range(count)]


def synthetic_city(studios: int) -> dict:
    """Demo London, plus copies of Camden (rooms and staff renamed) up to `studios`."""
    doc = dump_catalog(load_file(LONDON_FILE))
    camden = next(s for s in doc["studios"] if s["id"] == "camden")
    for n in range(studios - len(doc["studios"])):
        doc["studios"].append({**copy.deepcopy(camden), "id": f"s{n}", "name": f"Studio {n}"})
        doc["rooms"] += [{**r, "id": f"s{n}-{r['id']}", "studio": f"s{n}"}
                         for r in doc["rooms"] if r["studio"] == "camden"]
        doc["therapists"] += [staff_copy(t, f"s{n}") for t in doc["therapists"]
                              if all(s["studio"] == "camden" for s in t["shifts"])]
    parse_catalog(json.loads(json.dumps(doc)), "synthetic")  # fail here, not in the app
    return open_windows(doc)


def staff_copy(therapist: dict, studio: str) -> dict:
    shifts = [{**shift, "studio": studio} for shift in therapist["shifts"]]
    return {**therapist, "id": f"{studio}-{therapist['id']}", "shifts": shifts}


def book_upcoming(infra: Infra, days: int) -> None:
    """A busy fortnight: a relaxation hold every two hours at every studio."""
    ctx = bootstrap(infra)
    hold = methods(ctx)["hold"]
    for studio in ctx.catalog().studios:
        for day in range(days):
            for hour in range(10, 18, 2):
                start = (FIRST + timedelta(days=day, hours=hour)).isoformat()
                with contextlib.suppress(SpaError):  # e.g. nobody on shift then
                    hold({"studio": studio, "treatment": "relaxation", "duration": 60,
                          "start": start, "ttl_s": 86400})


def seed_past(store: Store, studio: str, count: int) -> None:
    """Confirmed bookings before today, written straight into the ledger in bulk."""
    ledger = store.studio_keys(studio)[0]
    first = int(time.time()) - count * 3600
    pipe = store.redis.pipeline(transaction=False)
    for n in range(count):
        start = first + n * 3600
        past = Reservation(f"past-{count}-{n}", studio, "relaxation", 60, "priya", "camden-1",
                           start, start + 3600, start + 4500, Money(Decimal("80"), "GBP"),
                           0, f"bk-past-{count}-{n}")
        pipe.zadd(ledger, {encode(past): start})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()
