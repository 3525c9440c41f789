"""Booking's periodic jobs on two worker replicas at once, over the session's real Redis
and broker: each event is relayed once, and each saga, release, lapsed offer and ended
entry is claimed by one replica."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from services.booking.bootstrap import bootstrap
from services.booking.handlers import jobs
from services.common import bus
from services.common.errors import Unavailable
from services.common.service import Infra
from tests.helpers import race

REPLICAS = 2


@pytest.fixture
def replicas(settings, clock) -> list:
    """The contexts of two worker processes: their own connections, the same Redis."""
    return [bootstrap(Infra.from_settings(settings), clock) for _ in range(REPLICAS)]


def test_two_relays_publish_each_committed_event_once(replicas, settings):
    topic = f"relaytest{uuid.uuid4().hex[:8]}"
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    with bus.broker_connection(settings.broker) as connection:
        bus.declare(connection, [queue])
    committed = [bus.Envelope(f"{topic}.happened", {"n": n}, "booking", "london")
                 for n in range(200)]
    for envelope in committed:
        replicas[0].store.publish(envelope)

    def relay(n: int) -> None:
        while replicas[n].store.due_events():
            jobs.relay_outbox(replicas[n])

    race(relay)
    with bus.broker_connection(settings.broker) as connection, connection.channel() as channel:
        received = [m.payload["id"] for m in iter(lambda: queue(channel).get(no_ack=True), None)]
        queue(channel).delete()
    assert Counter(received) == Counter(e.id for e in committed)
    assert replicas[0].store.redis.zcard(replicas[0].store.k("outbox", "claims")) == 0


def claimers(ctx) -> dict[str, tuple[str, Callable[[], list[str]]]]:
    """Each item-level job's sorted set, and its claim as the job calls it."""
    now = ctx.clock.now
    return {
        "sagas": (ctx.store.k("pending"), lambda: ctx.store.claim_stale_sagas(30, 10)),
        "releases": (ctx.store.k("releases"), lambda: list(ctx.store.claim_releases(30, 10))),
        "offers": (ctx.waitlist.k("offers"), lambda: ctx.waitlist.lapsed_offers(now(), 30)),
        "ends": (ctx.waitlist.k("ends"), lambda: ctx.waitlist.ended(now(), 30)),
    }


@pytest.mark.parametrize("job", ["sagas", "releases", "offers", "ends"])
def test_two_replicas_claim_each_due_item_once(replicas, job):
    name, _ = claimers(replicas[0])[job]
    past = replicas[0].clock.now().timestamp() - 5
    items = [f"{job}-{n}" for n in range(150)]
    replicas[0].store.redis.zadd(name, dict.fromkeys(items, past))
    replicas[0].store.redis.zadd(name, {"not-yet": past + 3600})
    handled: list[str] = []

    def work(n: int) -> None:
        _, claim = claimers(replicas[n])[job]
        while claimed := claim():
            handled.extend(claimed)

    race(work)
    assert Counter(handled) == Counter(items)


class CountingAvailability:
    """Availability as the worker's retry_releases calls it, counting each release."""

    def __init__(self, released: list[str]):
        self.released = released

    def release(self, hold_id: str, timeout_s: float | None = None) -> None:
        time.sleep(0.001)  # a round trip: the other replica runs meanwhile
        self.released.append(hold_id)


def test_two_replicas_retry_each_queued_release_once(replicas):
    released: list[str] = []
    workers = [replace(ctx, availability=CountingAvailability(released)) for ctx in replicas]
    holds = [f"h_{n}" for n in range(100)]
    for hold_id in holds:
        replicas[0].store.queue_release(hold_id)

    def work(n: int) -> None:
        while workers[n].store.due_releases():
            jobs.retry_releases(workers[n])

    race(work)
    assert Counter(released) == Counter(holds)


def test_a_release_availability_refuses_waits_and_the_rest_are_tried_at_the_next_run(
        replicas, clock):
    class Down:
        def release(self, hold_id: str, timeout_s: float | None = None) -> None:
            raise Unavailable("availability is not answering")

    ctx = replace(replicas[0], availability=Down())
    for hold_id in ("h1", "h2", "h3"):
        ctx.store.queue_release(hold_id)
    jobs.retry_releases(ctx)
    assert ctx.store.due_releases() == ["h2", "h3"]  # given back, not held for the lease
    clock.advance(seconds=2)  # the one refused waits RELEASE_RETRY_S
    assert set(ctx.store.due_releases()) == {"h1", "h2", "h3"}
