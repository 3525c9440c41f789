"""Availability's periodic jobs on two worker replicas at once, over the session's real
Redis: each expired hold is freed, and its news written, once."""

from __future__ import annotations

from dataclasses import replace

from services.availability.bootstrap import bootstrap
from services.availability.handlers import reservations
from services.availability.store import decode
from tests.helpers import race
from tests.integration.availability.support import hold_params

REPLICAS = 2
DAY_S = 24 * 3600


def expired_holds(rpc, ctx, clock, count: int) -> list[str]:
    """`count` holds of a minute, on days of their own, then the clock past them."""
    first = ctx.store.find("camden", rpc["hold"](hold_params(ttl_s=60))["hold_id"])
    version = ctx.versioned_catalog()[0]
    ids = [first.hold_id]
    for n in range(1, count):
        later = replace(first, hold_id=f"h-{n}", start=first.start + n * DAY_S,
                        end=first.end + n * DAY_S, busy_until=first.busy_until + n * DAY_S)
        assert ctx.store.hold(later, ctx.now(), version)[0] == "held"
        ids.append(later.hold_id)
    clock.advance(seconds=61)
    return ids


def news_of(ctx) -> list[str]:
    return [decode(raw).hold_id for raw, _ in ctx.store.freed("camden", limit=1000)
            if "hold_id" in raw]


def test_two_sweepers_free_each_expired_hold_once(rpc, ctx, infra, clock):
    holds = expired_holds(rpc, ctx, clock, 60)
    replicas = [ctx, bootstrap(infra, clock)]
    swept = [0] * REPLICAS

    def sweep(n: int) -> None:
        for _ in range(3):
            swept[n] += reservations.sweep_expired(replicas[n])

    race(sweep)
    assert sum(swept) == len(holds)
    assert sorted(news_of(ctx)) == sorted(holds)


def test_a_release_after_the_sweep_writes_no_second_news(rpc, ctx, clock):
    [hold] = expired_holds(rpc, ctx, clock, 1)
    assert reservations.sweep_expired(ctx) == 1
    ctx.store.relayed("camden", [raw for raw, _ in ctx.store.freed("camden")])
    # booking gives the hold back late (its retry of a release, a lapsed waitlist offer)
    assert rpc["release"]({"hold_id": hold}) == {"hold_id": hold, "released": False}
    assert news_of(ctx) == []
    assert reservations.sweep_expired(ctx) == 0
