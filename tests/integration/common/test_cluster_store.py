"""What the stores rely on from a Redis Cluster: one hash slot per city and service,
and a promised write that waits for a replica (`durably`)."""

from __future__ import annotations

import threading

import pytest
import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from services.common.redis import NotReplicated, durably, key
from tests.cluster import node
from tests.helpers import wait_for

SET = "return redis.call('SET', KEYS[1], ARGV[1])"


def answers(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_timeout=0.05, retry=Retry(NoBackoff(), 0)).ping()
    except redis.RedisError:
        return False


def test_a_services_keys_share_one_slot_and_services_do_not():
    slots = {service: {key_slot(key("london", service, *parts).encode())
                       for parts in (("a",), ("booking", "bk_1"), ("{studio:camden}", "x"))}
             for service in ("auth", "availability", "booking", "notifications")}
    assert all(len(found) == 1 for found in slots.values())  # one slot per service
    assert len({next(iter(found)) for found in slots.values()}) == 4


def test_a_write_is_promised_once_a_replica_holds_it(store, redis_client):
    script = redis_client.register_script(SET)
    assert durably(script, [key("london", "booking", "durable")], ["1"]) == "OK"
    assert redis_client.get(key("london", "booking", "durable")) == "1"


def test_a_write_no_replica_confirms_in_time_is_not_promised(store, redis_client):
    if store.kind != "cluster":
        pytest.skip("about a cluster's replicas (one Redis has none to wait for)")
    name = key("london", "booking", "durable")
    script = redis_client.register_script(SET)
    replica = store.cluster.replica_of(redis_client.keyslot(name))
    asleep = threading.Thread(target=lambda: node(replica).execute_command(
        "DEBUG", "SLEEP", "1.5"))
    asleep.start()  # the replica takes no write for a second
    wait_for(lambda: not answers(replica), timeout_s=1, interval_s=0.01,
             what="the replica to be asleep")
    try:
        with pytest.raises(NotReplicated):
            durably(script, [name], ["2"], wait_s=0.2)
    finally:
        asleep.join()


def test_a_promised_write_after_a_fail_over_is_a_retryable_refusal_then_goes_through(
        store, redis_client):
    """`durably` writes on the master it knew; after a fail-over that master is a
    replica (MOVED): the write is refused as the store being unavailable (a 503, never
    a 500), the client learns the new layout, and the next try succeeds."""
    if store.kind != "cluster":
        pytest.skip("about a cluster's fail-over")
    name = key("london", "booking", "moved")
    script = redis_client.register_script(SET)
    assert durably(script, [name], ["1"]) == "OK"  # the layout is known
    replica = store.cluster.replica_of(redis_client.keyslot(name))
    node(replica).execute_command("CLUSTER", "FAILOVER")  # the replica takes over, cleanly
    wait_for(lambda: store.cluster.replica_of(redis_client.keyslot(name)) != replica,
             timeout_s=10, what="the fail-over")
    with pytest.raises(NotReplicated):
        durably(script, [name], ["2"])
    assert durably(script, [name], ["3"]) == "OK"
    assert redis_client.get(name) == "3"
