"""The claims that let N replicas of a worker share periodic work (services/common/
claims.py), raced by threads over the session's real Redis: each item is handled once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from functools import partial

import pytest

from services.common import bus
from services.common.claims import Lease, claim_due, claim_first, release_first, unclaim
from services.common.redis import connect, key
from tests.helpers import race

REPLICAS = 2


def test_claim_due_gives_each_due_item_to_one_replica(redis_url):
    name = key("london", "test", "due")
    client = connect(redis_url)
    now = time.time()
    client.zadd(name, {f"item-{n}": now - n for n in range(300)})
    client.zadd(name, {"later": now + 3600})
    handled: list[str] = []

    def replica(_: int) -> None:
        own = connect(redis_url)  # a process of its own
        while claimed := claim_due(own, name, time.time(), lease_s=30, limit=7):
            handled.extend(claimed)  # list.extend is atomic under the GIL
            own.zrem(name, *claimed)

    race(replica)
    assert Counter(handled) == Counter(f"item-{n}" for n in range(300))
    assert client.zrange(name, 0, -1) == ["later"]


def test_a_claimed_item_comes_due_again_when_its_lease_ends_and_unclaim_gives_it_back(
        redis_url):
    name, client = key("london", "test", "due"), connect(redis_url)
    client.zadd(name, {"a": 10.0, "b": 20.0})
    assert claim_due(client, name, now=100.0, lease_s=30) == {"a": 10.0, "b": 20.0}
    assert claim_due(client, name, now=129.0, lease_s=30) == {}  # held by the first
    assert list(claim_due(client, name, now=131.0, lease_s=30)) == ["a", "b"]  # it died
    client.zrem(name, "a")  # done by its holder
    unclaim(client, name, {"a": 10.0, "b": 20.0})  # a broker failed: b is due again
    assert client.zrange(name, 0, -1, withscores=True) == [("b", 20.0)]


def test_claim_first_gives_each_item_to_one_replica_in_order(redis_url):
    name, claims = key("london", "test", "outbox"), key("london", "test", "claims")
    client = connect(redis_url)
    client.zadd(name, {f"event-{n:03d}": n for n in range(300)})
    batches: list[list[str]] = []

    def replica(_: int) -> None:
        own = connect(redis_url)
        while client.zcard(name):
            claimed = claim_first(own, name, claims, time.time(), lease_s=30, limit=10)
            batches.append(claimed)
            if claimed:
                own.zrem(name, *claimed)
                own.zrem(claims, *claimed)

    race(replica)
    handled = [item for batch in batches for item in batch]
    assert Counter(handled) == Counter(f"event-{n:03d}" for n in range(300))
    assert all(batch == sorted(batch) for batch in batches)  # each batch oldest first
    assert client.zcard(claims) == 0


def test_claim_first_skips_what_is_held_until_its_lease_ends(redis_url):
    name, claims = key("london", "test", "outbox"), key("london", "test", "claims")
    client = connect(redis_url)
    client.zadd(name, {"e1": 1, "e2": 2, "e3": 3})
    assert claim_first(client, name, claims, now=100.0, lease_s=30, limit=2) == ["e1", "e2"]
    assert claim_first(client, name, claims, now=101.0, lease_s=30) == ["e3"]
    release_first(client, claims, ["e2"])  # not published: anyone's at once
    assert claim_first(client, name, claims, now=102.0, lease_s=30) == ["e2"]
    assert claim_first(client, name, claims, now=140.0, lease_s=30) == ["e1", "e2", "e3"]


def test_a_lease_is_held_by_one_replica_until_released_or_lapsed(redis_url):
    name = key("london", "test", "lease", "job")
    first = Lease(connect(redis_url), name, ttl_s=0.3)
    second = Lease(connect(redis_url), name, ttl_s=0.3)
    assert first.acquire() and not second.acquire()
    assert first.renew()
    first.release()
    assert second.acquire() and not first.acquire()
    second.release()
    assert first.acquire()
    deadline = time.monotonic() + 5
    while not second.acquire():  # the first holder went quiet: its lease lapses
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not first.renew()  # lost: a run that renews stops
    first.release()  # releasing a lease lost to another leaves it alone
    assert not first.acquire()


def test_a_job_under_a_lease_runs_on_one_replica_a_turn(redis_url):
    name, turns = key("london", "test", "lease", "scan"), 20
    runs: list[int] = []
    tried = [threading.Event() for _ in range(turns)]
    together = threading.Barrier(REPLICAS)

    def scan(replica: int, turn: int) -> None:
        runs.append(replica)
        tried[turn].wait(timeout=10)  # held until the other replica has had its try

    jobs = [bus.Periodic(0.0, print, lease=Lease(connect(redis_url), name, ttl_s=30))
            for _ in range(REPLICAS)]

    def replica(n: int) -> None:
        for turn in range(turns):
            together.wait()
            jobs[n].run = partial(scan, n, turn)
            jobs[n].maybe_run()
            tried[turn].set()

    race(replica)
    assert len(runs) == turns
    kept = bus.Periodic(0.0, lambda: runs.append(-1),
                        lease=Lease(connect(redis_url), key("london", "test", "lease", "m"),
                                    ttl_s=60, keep=True))
    kept.maybe_run()
    kept.maybe_run()  # a kept lease: once per its ttl, even on the same replica
    assert runs.count(-1) == 1


class Recording:
    """A producer that records what it would publish."""

    def __init__(self, published: list[str]):
        self.published = published

    def publish(self, body, **kwargs) -> None:
        self.published.append(body["id"])


def test_two_replicas_requeue_each_parked_message_once(redis_url):
    queue = bus.event_queue(f"claims{uuid.uuid4().hex[:8]}.events", ["x.y"])
    consumers = [bus.EventConsumer(queue, {}, connect(redis_url), key("london", "test"),
                                   (0.01,), dedupe_ttl_s=60) for _ in range(REPLICAS)]
    for n in range(200):
        consumers[0].park({"id": f"m{n}"}, attempts=1, due=time.time() - 1)
    published: list[str] = []

    def replica(n: int) -> None:
        while consumers[n].requeue_due(Recording(published)):
            pass

    race(replica)
    assert Counter(published) == Counter(f"m{n}" for n in range(200))
    assert connect(redis_url).zcard(consumers[0].retry_key) == 0


def test_a_requeue_the_broker_refuses_leaves_the_messages_due(redis_url):
    queue = bus.event_queue(f"claims{uuid.uuid4().hex[:8]}.events", ["x.y"])
    consumer = bus.EventConsumer(queue, {}, connect(redis_url), key("london", "test"),
                                 (0.01,), dedupe_ttl_s=60)
    consumer.park({"id": "m1"}, attempts=1, due=time.time() - 1)

    class Down:
        def publish(self, body, **kwargs):
            raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        consumer.requeue_due(Down())
    published: list[str] = []
    assert consumer.requeue_due(Recording(published)) == 1  # at once, not after the lease
    assert published == ["m1"]
    assert connect(redis_url).zcard(consumer.retry_key) == 0
