"""The city-wide search put together from cached studio-days: after any write it
answers exactly what a cold search answers, and it recomputes only the studio-day the
write touched."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from services.availability import engine, queues
from services.availability.bootstrap import bootstrap
from services.availability.commands import SearchSlots
from services.availability.handlers import queries
from services.common.auth import Principal
from tests.integration.availability.support import DAY, hold_params

ADMIN = Principal("test", "admin")
FIRST = date.fromisoformat(DAY)
FORTNIGHT = SearchSlots("relaxation", 60, FIRST, FIRST + timedelta(days=13))


@pytest.fixture
def computed(monkeypatch) -> list[tuple[str, date]]:
    """Each studio-day the engine computes, in order."""
    seen, compute = [], engine.day_slots

    def counting(catalog, studio, query, day, blocks):
        seen.append((studio.id, day))
        return compute(catalog, studio, query, day, blocks)

    monkeypatch.setattr(engine, "day_slots", counting)
    return seen


def city_wide(ctx, search: SearchSlots = FORTNIGHT) -> list[dict]:
    return json.loads(queries.search_slots(ctx, ADMIN, search))["items"]


def cold(infra, clock, search: SearchSlots = FORTNIGHT) -> list[dict]:
    return city_wide(bootstrap(infra, clock), search)  # a fresh process: empty caches


def test_after_one_hold_the_search_recomputes_one_studio_day_and_matches_a_cold_one(
        ctx, infra, clock, computed):
    before = city_wide(ctx)
    studios = len(ctx.catalog().studios)
    assert len(computed) == studios * 14
    computed.clear()
    held = queues.methods(bootstrap(infra, clock))["hold"](
        hold_params(treatment="relaxation", studio="islington",
                    start=f"{DAY}T11:00:00+00:00"))  # another process writes
    after = city_wide(ctx)
    assert computed == [("islington", FIRST)]
    assert after == cold(infra, clock)  # (which computes every studio-day again)
    gone = [s for s in before if s not in after]
    assert gone and all(s["studio"] == "islington" and s["start"][:10] == DAY for s in gone)
    assert held["hold_id"]


def test_a_new_search_over_known_days_computes_nothing(ctx, infra, clock, computed):
    city_wide(ctx)
    computed.clear()
    later = SearchSlots("relaxation", 60, FIRST + timedelta(days=2), FIRST + timedelta(days=5))
    found = city_wide(ctx, later)
    assert computed == []
    assert found == cold(infra, clock, later)


def test_an_expired_hold_frees_its_day_and_a_release_its_day(ctx, infra, clock, rpc):
    held = rpc["hold"](hold_params(treatment="relaxation", ttl_s=60))
    with_hold = city_wide(ctx)
    assert with_hold == cold(infra, clock)
    clock.advance(seconds=61)
    assert city_wide(ctx) == cold(infra, clock) != with_hold
    again = rpc["hold"](hold_params(treatment="relaxation"))
    assert city_wide(ctx) == cold(infra, clock)
    rpc["release"]({"hold_id": again["hold_id"]})
    assert city_wide(ctx) == cold(infra, clock)
    assert held["hold_id"] != again["hold_id"]


def test_the_minimum_notice_is_applied_as_the_clock_moves(ctx, infra, clock):
    tomorrow = SearchSlots("relaxation", 60, FIRST, FIRST, "camden")
    first = city_wide(ctx, tomorrow)
    clock.advance(hours=23)  # 08:00 on DAY: its morning is now within the notice
    assert city_wide(ctx, tomorrow) == cold(infra, clock, tomorrow) != first
