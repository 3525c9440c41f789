"""What the bus does on RabbitMQ only: quorum queues with a delivery limit and
dead-lettering, heartbeats, failover and the migration of classic queues (publisher
confirms: tests/integration/booking/test_broker_confirms.py). On the session's own
vhost (tests/integration/conftest.py); skipped, saying why, without RabbitMQ."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import redis
from click.testing import CliRunner
from kombu import Connection, Consumer, Producer, Queue, binding

from services.common import bus
from services.common.cli import cli
from services.common.config import Settings
from services.common.devstack import Composition
from services.common.redis import connect
from services.common.rpc import RPC, RpcClient, RpcServer, rpc_queue
from services.common.service import Infra, run_worker
from tests.helpers import SilentProxy, running_worker, wait_for


@pytest.fixture
def topic():
    return f"rabbit{uuid.uuid4().hex[:10]}"


@pytest.fixture
def plain_redis(redis_server):
    """The session's plain Redis (these tests are about the broker, not the store)."""
    return connect(redis_server.url)


def consumer_of(queue: Queue, handlers: dict, store) -> bus.EventConsumer:
    return bus.EventConsumer(queue, handlers, store, f"test:{queue.name}", (0.05,), 60)


def envelope(topic: str, **payload) -> bus.Envelope:
    return bus.Envelope(type=f"{topic}.happened", payload=payload, source="test",
                        city="london")


def vhost_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def queues_on(url: str) -> dict[str, dict]:
    """Name -> {type, arguments, messages} of every queue on the vhost, as RabbitMQ
    itself lists them."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost_of(url), "name", "type",
         "arguments", "messages", "--formatter", "json"],
        check=True, capture_output=True, text=True, timeout=30).stdout
    return {q["name"]: {"type": q["type"], "messages": q["messages"],
                        "arguments": {name: value for name, _, value in q["arguments"]}}
            for q in json.loads(listed)}


def drain(url: str, name: str) -> list:
    """Every message of queue `name`, taken off it."""
    with Connection(url) as connection, connection.channel() as channel:
        return list(iter(lambda: Queue(name)(channel).get(no_ack=True), None))


# quorum queues -----------------------------------------------------------------------

def test_event_and_rpc_queues_are_quorum_queues_and_reply_queues_classic(rabbitmq_url,
                                                                          topic):
    events = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    requests = rpc_queue(topic)
    server = RpcServer(topic, {"ping": lambda params: {"pong": True}})
    with bus.broker_connection(rabbitmq_url) as connection, \
            running_worker(connection, rpc_servers=[server]), \
            bus.broker_connection(rabbitmq_url, confirm=False) as client_connection:
        bus.declare(connection, [events])
        client = RpcClient(client_connection, topic, timeout_s=5)
        assert client.call("ping", {}) == {"pong": True}
        found = queues_on(rabbitmq_url)
    for queue in (events, requests):
        assert found[queue.name]["type"] == "quorum"
        assert found[queue.name]["arguments"] | {
            "x-delivery-limit": bus.DELIVERY_LIMIT, "x-dead-letter-exchange": "spa.dead",
            "x-dead-letter-routing-key": queue.name} == found[queue.name]["arguments"]
        assert found[f"{queue.name}.dead"]["type"] == "quorum"
    assert found[client.reply_queue.name]["type"] == "classic"


class Crash(BaseException):
    """What kills a worker process from inside a handler (os._exit, a segfault, the
    OOM killer), raised here: the app's `except Exception` does not catch it."""


def test_a_poison_message_that_kills_every_worker_ends_in_the_dead_letter_queue(
        rabbitmq_url, topic, plain_redis):
    """Its handler kills the worker, beyond the app's retries: each restart gets it
    again (once the dead run's handler lease lapsed). RabbitMQ counts each death and,
    past the delivery limit, dead-letters it; the next worker goes on with the queue."""
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"], delivery_limit=2)
    handled: list[str] = []

    def handle(event: bus.Envelope) -> None:
        if event.payload.get("poison"):
            raise Crash("killed")
        handled.append(event.id)

    lease_s = 0.05
    consumer = bus.EventConsumer(queue, {f"{topic}.happened": handle}, plain_redis,
                                 f"test:{queue.name}", (0.05,), 60, lease_s=lease_s)
    poison = envelope(topic, poison=True)
    with bus.broker_connection(rabbitmq_url) as connection:
        bus.declare(connection, [queue])
        bus.Publisher(connection).publish(poison)
    for _ in range(3):  # the first delivery and two more: the limit
        assert isinstance(run_until_it_dies(rabbitmq_url, consumer), Crash)
        time.sleep(lease_s * 2)  # restarted after the lease, as a process would be
    later = envelope(topic)
    with bus.broker_connection(rabbitmq_url) as connection, \
            running_worker(connection, [consumer]):
        bus.Publisher(connection).publish(later)
        wait_for(lambda: handled, what="the next event")
    assert handled == [later.id]
    [dead] = drain(rabbitmq_url, f"{queue.name}.dead")
    assert dead.payload["id"] == poison.id
    assert dead.headers["x-first-death-reason"] == "delivery_limit"


class FlakyStore:
    """A store client that is down while `down` is set: every command raises as
    redis-py does when Redis is unreachable."""

    def __init__(self, client):
        self.client = client
        self.down = threading.Event()

    def __getattr__(self, name: str):
        if self.down.is_set():
            raise redis.exceptions.ConnectionError("the store is down")
        return getattr(self.client, name)


def test_a_store_outage_does_not_use_up_the_delivery_limit(rabbitmq_url, topic,
                                                            plain_redis):
    """A store error takes the worker down to reconnect, handing back the messages in
    flight, and RabbitMQ counts each return: the worker waits for its store before it
    consumes again, so an outage costs one return, not one per reconnect."""
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"], delivery_limit=2)
    store = FlakyStore(plain_redis)
    handled: list[str] = []
    consumer = consumer_of(queue, {f"{topic}.happened": lambda e: handled.append(e.id)},
                           store)
    sent = envelope(topic)
    with bus.broker_connection(rabbitmq_url) as connection:
        bus.declare(connection, [queue])
        bus.Publisher(connection).publish(sent)
    store.down.set()
    with bus.broker_connection(rabbitmq_url) as connection, \
            running_worker(connection, [consumer]):
        time.sleep(2)  # without the wait: a reconnect every ~0.1 s, each a return
        store.down.clear()
        wait_for(lambda: handled, what="the event, once the store is back")
    assert handled == [sent.id]
    assert drain(rabbitmq_url, f"{queue.name}.dead") == []


def run_until_it_dies(url: str, consumer: bus.EventConsumer,
                      timeout_s: float = 10.0) -> BaseException:
    """A worker process's life: `Worker.run` until it raises (its process would exit
    and be started again)."""
    died: list[BaseException] = []
    with bus.broker_connection(url) as connection:
        worker = bus.Worker(connection, [consumer])

        def run():
            try:
                worker.run(safety_interval=0.05)
            except BaseException as error:  # noqa: BLE001 - what killed it is the answer
                died.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout_s)
        worker.should_stop = True
        thread.join(5)
    assert died, "the worker did not die"
    return died[0]


# heartbeats and failover --------------------------------------------------------------

@contextmanager
def beating_every(seconds: int, url: str, confirm: bool = True):
    """A connection whose heartbeat is `seconds` (the product's is BROKER_HEARTBEAT_S):
    RabbitMQ closes it after about two silent beats."""
    connection = bus.broker_connection(url, confirm=confirm)
    connection.heartbeat = seconds
    with connection:
        yield connection


def test_the_worker_loop_keeps_an_idle_connection_alive_with_heartbeats(
        rabbitmq_url, topic, plain_redis, caplog):
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    handled: list[str] = []
    consumer = consumer_of(queue, {f"{topic}.happened": lambda e: handled.append(e.id)},
                           plain_redis)
    with caplog.at_level(logging.WARNING, logger="services.common.bus"), \
            beating_every(1, rabbitmq_url) as connection, \
            running_worker(connection, [consumer]):
        time.sleep(4)  # idle for four beats: RabbitMQ would drop a silent peer
        sent = envelope(topic)
        bus.Publisher(connection).publish(sent)
        wait_for(lambda: handled, what="the event")
    assert handled == [sent.id]
    assert "connection lost; reconnecting" not in caplog.messages


def test_an_idle_publishers_next_publish_reaches_the_broker(rabbitmq_url, topic):
    """Idle, a publisher sends no heartbeats and the broker closes its connection: the
    next publish fails on it, is sent again on a new one, and arrives once."""
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    with bus.broker_connection(rabbitmq_url) as connection:
        bus.declare(connection, [queue])
    with beating_every(1, rabbitmq_url) as connection:
        publisher = bus.Publisher(connection)
        sent = [envelope(topic, n=0)]
        publisher.publish(sent[0])
        time.sleep(4)
        sent.append(envelope(topic, n=1))
        publisher.publish(sent[1])
    assert [m.payload["id"] for m in drain(rabbitmq_url, queue.name)] == [e.id for e in sent]


def test_a_node_gone_silent_is_noticed_within_two_heartbeats(rabbitmq_url, topic,
                                                              plain_redis, caplog):
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    with bus.broker_connection(rabbitmq_url) as connection:
        bus.declare(connection, [queue])
    proxy = SilentProxy(urlsplit(rabbitmq_url).port)
    via_proxy = rabbitmq_url.replace(f":{urlsplit(rabbitmq_url).port}/", f":{proxy.port}/")
    with caplog.at_level(logging.INFO, logger="services.common.bus"), \
            beating_every(1, via_proxy) as connection, \
            running_worker(connection, [consumer_of(queue, {}, plain_redis)]):
        wait_for(lambda: "worker ready" in caplog.messages, what="the worker to consume")
        proxy.silent.set()  # the node lost power: no FIN, no RST, nothing
        silenced = time.monotonic()
        wait_for(lambda: "connection lost; reconnecting" in caplog.messages, timeout_s=10,
                 what="the worker to notice")
        noticed_after = time.monotonic() - silenced
    proxy.close()
    assert noticed_after < 3.5  # two beats of 1 s, checked every safety interval


def test_an_rpc_client_idle_past_the_heartbeats_connects_afresh(rabbitmq_url, topic):
    """Idle, a client sends no heartbeats and RabbitMQ closes its connection: the next
    call must not be lost on it."""
    server = RpcServer(topic, {"ping": lambda params: {"pong": True}})
    with bus.broker_connection(rabbitmq_url) as connection, \
            running_worker(connection, rpc_servers=[server]), \
            beating_every(1, rabbitmq_url, confirm=False) as client_connection:
        client = RpcClient(client_connection, topic, timeout_s=5)
        assert client.call("ping", {}) == {"pong": True}
        time.sleep(4)  # RabbitMQ drops the silent connection meanwhile
        assert client.call("ping", {}) == {"pong": True}


def test_a_failover_list_reaches_the_node_that_answers(rabbitmq_url, topic, plain_redis):
    """`SPA_BROKER_URL=amqp://h1//;amqp://h2//`: h1 is down (refused here); the
    publisher, the worker and the RPC client all get through to h2."""
    dead_node = rabbitmq_url.replace(f":{urlsplit(rabbitmq_url).port}/", ":1/")
    failover = f"{dead_node};{rabbitmq_url}"
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    handled: list[str] = []
    consumer = consumer_of(queue, {f"{topic}.happened": lambda e: handled.append(e.id)},
                           plain_redis)
    server = RpcServer(topic, {"ping": lambda params: {"pong": True}})
    with bus.broker_connection(failover) as connection, \
            running_worker(connection, [consumer], [server]), \
            bus.broker_connection(failover) as publishing, \
            bus.broker_connection(failover, confirm=False) as calling:
        sent = envelope(topic)
        bus.Publisher(publishing).publish(sent)
        wait_for(lambda: handled, what="the event")
        assert RpcClient(calling, topic, timeout_s=5).call("ping", {}) == {"pong": True}
    assert handled == [sent.id]


# migration of classic queues ----------------------------------------------------------

def composition(*queues: Queue) -> Composition:
    return Composition(services=(), queues=list(queues), load_city=lambda infra, path: [],
                       studios=lambda infra: [])


def spa(args: list[str], url: str, redis_server, tmp_path, *queues: Queue):
    env = {"SPA_REDIS_URL": redis_server.url, "SPA_BROKER_URL": url,
           "SPA_DATA_DIR": str(tmp_path)}
    return CliRunner().invoke(cli, args, obj=composition(*queues), env=env)


def classic_queues(url: str, topic: str) -> tuple[Queue, Queue]:
    """The queues of an older version: an event queue and an RPC queue, classic."""
    events = Queue(f"{topic}.events", bindings=[binding(bus.EVENTS, f"{topic}.*")],
                   durable=True)
    name = f"{topic}.rpc"
    requests = Queue(name, exchange=RPC, routing_key=name, durable=True)
    with Connection(url) as connection, connection.channel() as channel:
        for queue in (events, requests):
            queue(channel).declare()
    return events, requests


def test_a_worker_refuses_a_classic_queue_and_names_the_migration(rabbitmq_url, topic,
                                                                   plain_redis):
    classic_queues(rabbitmq_url, topic)
    queue = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    infra = Infra(Settings(broker_url=rabbitmq_url), plain_redis, rabbitmq_url)
    with pytest.raises(bus.QueueMismatch, match="run `spa bus migrate`"):
        run_worker(infra, [consumer_of(queue, {}, plain_redis)])


def test_spa_bus_migrate_moves_classic_queues_into_quorum_queues_with_their_messages(
        rabbitmq_url, topic, redis_server, tmp_path):
    classic_queues(rabbitmq_url, topic)
    waiting, retried = [envelope(topic, n=n) for n in range(3)], envelope(topic, n=3)
    with bus.broker_connection(rabbitmq_url) as connection:
        for item in waiting:
            bus.Publisher(connection).publish(item)
        Producer(connection).publish(bus.envelope_to_body(retried), exchange="",
                                     routing_key=f"{topic}.events", serializer="json",
                                     headers={"x-attempts": 2})  # a retry, requeued
        Producer(connection).publish({"method": "ping"}, exchange="",
                                     routing_key=f"{topic}.rpc", serializer="json",
                                     reply_to="rpc.reply.x", correlation_id="c1")
    events, requests = bus.event_queue(f"{topic}.events", [f"{topic}.*"]), rpc_queue(topic)

    result = spa(["bus", "migrate"], rabbitmq_url, redis_server, tmp_path, events, requests)

    assert result.exit_code == 0, result.output
    assert f"{topic}.events: migrated (4 message(s) out" in result.output
    assert f"{topic}.rpc: migrated (1 message(s) out" in result.output
    found = queues_on(rabbitmq_url)
    assert {found[name]["type"] for name in (events.name, requests.name)} == {"quorum"}
    assert {f"{events.name}.dead", f"{requests.name}.dead"} <= set(found)
    assert not {f"{events.name}.migrating", f"{requests.name}.migrating"} & set(found)
    with bus.broker_connection(rabbitmq_url) as connection:
        bus.declare(connection, [events, requests])  # what workers do: accepted now
        bus.Publisher(connection).publish(after := envelope(topic, n=4))  # still bound
    moved = drain(rabbitmq_url, events.name)
    assert [m.payload["id"] for m in moved] == [e.id for e in [*waiting, retried, after]]
    assert moved[3].headers.get("x-attempts") == 2
    [request] = drain(rabbitmq_url, requests.name)
    assert (request.payload, request.properties["reply_to"],
            request.properties["correlation_id"]) == ({"method": "ping"}, "rpc.reply.x", "c1")
    again = spa(["bus", "migrate"], rabbitmq_url, redis_server, tmp_path, events, requests)
    assert again.output.count("as declared, nothing to move") == 2, again.output


def test_spa_bus_migrate_goes_on_from_a_holding_queue_left_by_an_interrupted_run(
        rabbitmq_url, topic, redis_server, tmp_path):
    """Interrupted after the old queue was deleted: its messages wait in the holding
    queue, and the next run moves them in."""
    events = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    holding = Queue(f"{events.name}.migrating", bindings=list(events.bindings), durable=True,
                    queue_arguments={"x-queue-type": "quorum"})
    with bus.broker_connection(rabbitmq_url) as connection:
        with connection.channel() as channel:
            bus.EVENTS(channel).declare()
            holding(channel).declare()
        for n in range(2):
            bus.Publisher(connection).publish(envelope(topic, n=n))

    result = spa(["bus", "migrate"], rabbitmq_url, redis_server, tmp_path, events)

    assert result.exit_code == 0, result.output
    assert "0 message(s) out of the old queue, 2 into the new one" in result.output
    assert queues_on(rabbitmq_url)[events.name]["type"] == "quorum"
    assert f"{events.name}.migrating" not in queues_on(rabbitmq_url)
    assert sorted(m.payload["payload"]["n"] for m in drain(rabbitmq_url, events.name)) == [0, 1]


def test_spa_bus_migrate_refuses_while_a_worker_consumes(rabbitmq_url, topic, redis_server,
                                                         tmp_path):
    old, _ = classic_queues(rabbitmq_url, topic)
    events = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    with Connection(rabbitmq_url) as worker, \
            Consumer(worker, queues=[old], callbacks=[lambda body, message: None]):
        result = spa(["bus", "migrate"], rabbitmq_url, redis_server, tmp_path, events)
    assert result.exit_code == 1
    assert f"{events.name} has 1 consumer(s): stop the workers" in result.output
    assert queues_on(rabbitmq_url)[events.name]["type"] == "classic"


def test_spa_bus_migrate_has_nothing_to_do_on_a_redis_broker(redis_server, tmp_path,
                                                             topic):
    events = bus.event_queue(f"{topic}.events", [f"{topic}.*"])
    result = spa(["bus", "migrate"], redis_server.url, redis_server, tmp_path, events)
    assert result.exit_code == 0
    assert "the broker is not RabbitMQ: nothing to migrate" in result.output
