"""The bus against real brokers: the test session's Redis and, where it runs, RabbitMQ."""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import pytest
from kombu import Connection, Producer
from kombu.exceptions import OperationalError
from marshmallow import ValidationError

from services.common import bus
from services.common.errors import BadRequest, SlotUnavailable, SpaError
from services.common.redis import free_port
from services.common.rpc import RpcClient, RpcServer, RpcTimeout
from tests.helpers import running_worker, wait_for


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request, redis_url, store):
    if request.param == "amqp":
        return request.getfixturevalue("rabbitmq_url")  # the session's vhost (conftest)
    if store.kind == "cluster":
        pytest.skip("a Redis broker beside a Redis Cluster store is refused at startup")
    return redis_url


@pytest.fixture
def topic():
    """A routing-key family of this test's own, so runs never see each other's events."""
    return f"bustest{uuid.uuid4().hex[:12]}"


@pytest.fixture
def queue(topic, broker_url):
    q = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    with bus.broker_connection(broker_url) as connection:
        bus.declare(connection, [q])
    yield q
    with bus.broker_connection(broker_url) as connection, connection.channel() as channel:
        q(channel).delete()


@contextmanager
def running(broker_url: str, consumers=(), rpc_servers=()):
    with bus.broker_connection(broker_url) as connection, \
            running_worker(connection, consumers, rpc_servers) as worker:
        yield worker


def make_consumer(queue, handlers, redis_client, retry_delays=(0.05, 0.1), lease_s=120.0):
    return bus.EventConsumer(queue, handlers, redis_client, f"test:{queue.name}",
                             retry_delays, dedupe_ttl_s=60, lease_s=lease_s)


def envelope(topic: str, **payload) -> bus.Envelope:
    return bus.Envelope(type=f"{topic}.happened", payload=payload, source="test",
                        city="london", correlation_id="req-1")


def publish(broker_url: str, *envelopes: bus.Envelope) -> None:
    with bus.broker_connection(broker_url) as connection:
        publisher = bus.Publisher(connection)
        for item in envelopes:
            publisher.publish(item)


def test_a_published_event_reaches_the_consumer_of_its_queue(broker_url, queue, topic,
                                                             redis_client):
    seen: list[bus.Envelope] = []
    consumer = make_consumer(queue, {f"{topic}.happened": seen.append}, redis_client)
    sent = envelope(topic, booking="b1")
    with running(broker_url, [consumer]):
        publish(broker_url, sent)
        wait_for(lambda: seen, what="the event")
    assert seen == [sent]


def test_events_published_while_the_consumer_is_down_arrive_when_it_starts(
        broker_url, queue, topic, redis_client):
    seen: list[str] = []
    publish(broker_url, *[envelope(topic, n=n) for n in range(5)])
    consumer = make_consumer(queue, {f"{topic}.happened": lambda e: seen.append(
        e.payload["n"])}, redis_client)
    with running(broker_url, [consumer]):
        wait_for(lambda: len(seen) == 5, what="five events")
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_a_duplicate_envelope_id_is_handled_once(broker_url, queue, topic, redis_client):
    seen: list[str] = []
    first = envelope(topic)
    later = envelope(topic)
    consumer = make_consumer(queue, {f"{topic}.happened": lambda e: seen.append(e.id)},
                             redis_client)
    with running(broker_url, [consumer]):
        publish(broker_url, first, first, later)
        wait_for(lambda: later.id in seen, what="the last event")
    assert seen.count(first.id) == 1


def test_an_event_whose_first_handler_died_mid_run_is_handled_after_the_lease(
        broker_url, queue, topic, redis_client):
    """A worker killed inside the handler leaves `running` behind; the redelivery must run."""
    seen: list[str] = []
    consumer = make_consumer(queue, {f"{topic}.happened": lambda e: seen.append(e.id)},
                             redis_client, lease_s=0.5)
    orphan = envelope(topic)
    # The dead worker's lease: long enough to be live when the redelivery arrives.
    redis_client.set(consumer.seen_key(orphan.id), "running", px=2000)
    with running(broker_url, [consumer]):
        publish(broker_url, orphan)
        wait_for(lambda: seen, what="the redelivered event")
    assert seen == [orphan.id]
    assert consumer.dead_letters.entries(queue.name) == []


def test_a_handler_that_keeps_failing_ends_in_the_dead_letter_list(broker_url, queue, topic,
                                                                   redis_client):
    attempts: list[int] = []

    def always_fails(event):
        attempts.append(1)
        raise RuntimeError("downstream is broken")

    consumer = make_consumer(queue, {f"{topic}.happened": always_fails}, redis_client)
    sent = envelope(topic)
    with running(broker_url, [consumer]):
        publish(broker_url, sent)
        dead = wait_for(lambda: consumer.dead_letters.entries(queue.name),
                        what="a dead letter")
    assert len(attempts) == 3  # the first try and one per retry delay
    assert dead[0]["body"]["id"] == sent.id
    assert "downstream is broken" in dead[0]["error"]


def test_a_dead_letter_can_be_replayed_once_the_cause_is_fixed(broker_url, queue, topic,
                                                               redis_client):
    broken = {"yes": True}
    handled: list[str] = []

    def flaky(event):
        if broken["yes"]:
            raise RuntimeError("still broken")
        handled.append(event.id)

    consumer = make_consumer(queue, {f"{topic}.happened": flaky}, redis_client)
    sent = envelope(topic)
    with running(broker_url, [consumer]):
        publish(broker_url, sent)
        wait_for(lambda: consumer.dead_letters.entries(queue.name), what="a dead letter")
        broken["yes"] = False
        with bus.broker_connection(broker_url) as connection:
            assert consumer.dead_letters.replay(queue.name, connection) == 1
        wait_for(lambda: handled, what="the replayed event")
    assert handled == [sent.id]
    assert consumer.dead_letters.entries(queue.name) == []


def test_a_replay_that_cannot_reach_the_broker_keeps_the_dead_letter(redis_client):
    letters = bus.DeadLetters(redis_client, f"test:{uuid.uuid4().hex}")
    letters.add("q", {"id": "e1"}, "RuntimeError: broken", attempts=3)
    with Connection(f"redis://127.0.0.1:{free_port()}/0") as nowhere, pytest.raises(
            OperationalError):
        letters.replay("q", nowhere)
    assert [entry["body"] for entry in letters.entries("q")] == [{"id": "e1"}]


def test_a_handler_that_fails_once_is_retried_and_handled_once(broker_url, queue, topic,
                                                               redis_client):
    calls: list[str] = []

    def fails_first(event):
        calls.append(event.id)
        if len(calls) == 1:
            raise ConnectionError("blip")

    consumer = make_consumer(queue, {f"{topic}.happened": fails_first}, redis_client)
    with running(broker_url, [consumer]):
        publish(broker_url, envelope(topic))
        wait_for(lambda: len(calls) == 2, what="the retry")
    assert consumer.dead_letters.entries(queue.name) == []


def test_a_malformed_envelope_is_dead_lettered_without_retries(broker_url, queue, topic,
                                                               redis_client):
    calls: list[object] = []
    consumer = make_consumer(queue, {f"{topic}.happened": calls.append}, redis_client)
    with running(broker_url, [consumer]), bus.broker_connection(broker_url) as connection:
        Producer(connection).publish({"type": f"{topic}.happened", "payload": "nope"},
                                     exchange=bus.EVENTS, routing_key=f"{topic}.happened",
                                     serializer="json", declare=[bus.EVENTS])
        dead = wait_for(lambda: consumer.dead_letters.entries(queue.name),
                        what="a dead letter")
    assert calls == []
    assert dead[0]["attempts"] == 1 and "invalid envelope" in dead[0]["error"]


def test_publishing_an_invalid_envelope_is_refused():
    with pytest.raises(ValidationError):
        bus.envelope_to_body(bus.Envelope(type="Not A Type", payload={}, source="t",
                                          city="london"))


def test_envelope_round_trips_through_json():
    sent = bus.Envelope(type="booking.created", payload={"a": 1}, source="booking",
                        city="london", correlation_id="r")
    assert bus.envelope_from_body(json.dumps(bus.envelope_to_body(sent))) == sent


@pytest.fixture
def rpc_service():
    return f"rpctest{uuid.uuid4().hex[:8]}"


def test_rpc_round_trip_returns_the_result_and_raises_the_same_error_class(broker_url,
                                                                          rpc_service):
    def refuse(params):
        raise SlotUnavailable("taken", therapist=params["therapist"])

    def crash(params):
        raise RuntimeError("a bug")

    server = RpcServer(rpc_service, {"add": lambda p: {"sum": p["a"] + p["b"]},
                                     "refuse": refuse, "crash": crash})
    with running(broker_url, rpc_servers=[server]), \
            bus.broker_connection(broker_url) as connection:
        client = RpcClient(connection, rpc_service, timeout_s=5)
        assert client.call("add", {"a": 2, "b": 3}) == {"sum": 5}
        with pytest.raises(SlotUnavailable) as refused:
            client.call("refuse", {"therapist": "maya"})
        with pytest.raises(BadRequest) as unknown:
            client.call("nope", {})
        with pytest.raises(SpaError) as crashed:
            client.call("crash", {})
    assert (refused.value.code, refused.value.detail) == ("slot_unavailable", "taken")
    assert refused.value.extra == {"therapist": "maya"}
    assert unknown.value.code == "bad_request"
    assert crashed.value.code == "internal_error" and "a bug" not in crashed.value.detail


def test_rpc_without_a_server_raises_unavailable_at_the_deadline(broker_url, rpc_service):
    with bus.broker_connection(broker_url) as connection:
        bus.declare(connection, [])
        client = RpcClient(connection, rpc_service, timeout_s=0.5)
        with pytest.raises(RpcTimeout):
            client.call("add", {"a": 1, "b": 1})


def test_deferrable_work_waits_while_events_wait_for_any_replica(broker_url, queue, topic,
                                                                  redis_client):
    """A replica that got no message itself still yields to events queued for the
    others: its periodic job is told it is busy while the queue holds any."""
    told: list[bool] = []
    job = bus.Periodic(0.0, told.append, yields_to_messages=True, max_wait_s=0.0)
    consumer = make_consumer(queue, {}, redis_client)
    publish(broker_url, envelope(topic, n=1))
    with bus.broker_connection(broker_url) as connection, connection.channel() as channel:
        worker = bus.Worker(connection, [consumer], periodic=[job])
        worker.on_consume_ready(connection, channel, [])
        worker.on_iteration()  # one event queued, taken by nobody yet
        queue(channel).purge()
        worker.on_iteration()
        queue(channel).delete()  # asking about a queue that is gone is refused...
        worker.on_iteration()
        queue(channel).declare()  # ...on the probe's channel: the consumers' still works
        publish(broker_url, envelope(topic, n=2))
        worker.on_iteration()
    assert told == [True, False, False, True]
