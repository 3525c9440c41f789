"""The message bus: one durable topic exchange, envelopes, and at-least-once consumers.

Delivery guarantees, named once here and relied on by every service:

- publish: persistent messages on the durable topic exchange `spa.events`; each
  consuming service owns a durable queue bound by routing key (never fanout: on
  Redis fanout is PUB/SUB and loses messages while a consumer is down).
- consume, AT-LEAST-ONCE: a message is acked only after its handler returned (or
  after it was parked for retry / dead-lettered), so a crash mid-handler means the
  broker delivers it again.
- IDEMPOTENT: handlers run once per (queue, envelope id): a Redis SET NX takes a
  lease (`running`) before the handler and marks the id `done` after success. A
  duplicate of a done id is acked and skipped; a duplicate that finds `running` is
  parked until the lease ends, because the twin may have died mid-handler.
- RETRY WITH BACKOFF: a handler error parks the message in a Redis sorted set until
  its next delay has passed, then it goes back on the queue; after the last delay
  it is DEAD-LETTERED (a Redis list an admin lists and replays with `spa dead-letters`).
- POISON: an envelope that fails validation can never succeed, so it is
  dead-lettered at once instead of retried.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from amqp.exceptions import PreconditionFailed
from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import OperationalError
from kombu.mixins import ConsumerMixin
from kombu.transport import redis as kombu_redis
from marshmallow import Schema, ValidationError, fields, validate

from services.common import jsonio
from services.common.claims import Lease, claim_due, unclaim
from services.common.config import is_amqp
from services.common.redis import STORE_DOWN

log = logging.getLogger(__name__)

EVENTS = Exchange("spa.events", type="topic", durable=True)
# On RabbitMQ every queue but the RPC reply queues is a quorum queue (replicated on a
# cluster) that the broker dead-letters, through DEAD into `<queue>.dead`, a message
# whose consumer died holding it more than DELIVERY_LIMIT times: the backstop for a
# message that kills every worker before the app's own retries see it. The app
# never rejects a message, so only such deaths count (a copy redelivered while the
# dead handler's lease lasts is parked by the app instead: skip_or_wait_for_twin).
# A Redis broker ignores it all.
DEAD = Exchange("spa.dead", type="direct", durable=True)
DELIVERY_LIMIT = 20
BROKER_HEARTBEAT_S = 10  # a peer silent for two of these is dead, to RabbitMQ and to us
SCHEMA_VERSION = 1
# An admin runs replay by hand: fail within a second or two rather than hang.
REPLAY_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"  # e.g. booking.created
REQUEUE_LEASE_S = 30.0  # longer than requeueing 100 parked messages takes


@dataclass(frozen=True)
class Envelope:
    type: str
    payload: dict
    source: str
    city: str
    correlation_id: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema_version: int = SCHEMA_VERSION
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


class EnvelopeSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=validate.Regexp(EVENT_TYPE))
    schema_version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.String(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1))
    city = fields.String(required=True, validate=validate.Length(min=1))
    correlation_id = fields.String(load_default="")
    payload = fields.Dict(required=True)

    @staticmethod
    def check_instant(text: str) -> None:
        datetime.fromisoformat(text)


def envelope_to_body(envelope: Envelope) -> dict:
    body = jsonio.shallow(envelope)  # the payload is shared: the transport copies it
    errors = EnvelopeSchema().validate(body)
    if errors:
        raise ValidationError(errors)
    return body


def envelope_from_body(body: dict | str | bytes) -> Envelope:
    """Validate an incoming message body; raises ValidationError for anything malformed."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError as error:
            raise ValidationError({"_schema": ["body is not JSON"]}) from error
    if not isinstance(body, dict):
        raise ValidationError({"_schema": ["body is not an object"]})
    data = EnvelopeSchema().load(body)
    try:
        EnvelopeSchema.check_instant(data["occurred_at"])
    except ValueError as error:
        raise ValidationError({"occurred_at": ["not an RFC 3339 instant"]}) from error
    return Envelope(**data)


class _RedisChannel(kombu_redis.Channel):
    """kombu builds a new redis-py client for every publish and ack, and redis-py fills
    some 200 response callbacks into each one, a large share of a booking's CPU. One
    client per channel, on the same connection pool, does the same work (a channel is
    used by one thread; the pool is thread-safe)."""

    _sync_client: redis.Redis | None = None

    def _create_client(self, asynchronous: bool = False) -> redis.Redis:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._sync_client is None:
            self._sync_client = super()._create_client()
        return self._sync_client


class RedisTransport(kombu_redis.Transport):
    Channel = _RedisChannel


BROKER_TIMEOUT_S = 2.0


def broker_connection(url: str, timeout_s: float = BROKER_TIMEOUT_S,
                      visibility_timeout_s: float = 60.0, confirm: bool = True) -> Connection:
    """A kombu connection that gives up on the broker after `timeout_s`: connecting is
    tried once per broker of `url` (`amqp://h1//;amqp://h2//` lists nodes to fail over
    to, in turn), and every read or write on a broker that accepts and then says nothing
    times out, so a request never waits longer than it may (a worker reconnects on its
    own schedule: `Worker.establish_connection`). On Redis, unacked messages of a dead
    consumer come back after `visibility_timeout_s` instead of kombu's hour, and
    a half-open connection is noticed within seconds (`health_check_interval`).

    On RabbitMQ, heartbeats (BROKER_HEARTBEAT_S) let either side notice a dead peer
    in seconds (the worker loop checks them between messages), and with `confirm`
    every publish waits for the broker's ack, so it returns only once the broker has
    the message and raises when the broker refuses it (an unconfirmed publish can
    vanish in a socket buffer or an asynchronous channel error)."""
    nodes = url.count(";") + 1
    # Each failover node tried once, each given `timeout_s` (kombu's default budget is
    # one `timeout_s` for all, which a first node that hangs would use up).
    options: dict = {"max_retries": nodes - 1, "connect_retries_timeout": timeout_s * nodes}
    heartbeat = 0
    if url.startswith("redis://"):
        transport = RedisTransport
        options |= {"visibility_timeout": visibility_timeout_s, "socket_timeout": timeout_s,
                    "socket_connect_timeout": timeout_s, "health_check_interval": 5}
    else:
        transport = None
        options |= {"read_timeout": timeout_s, "write_timeout": timeout_s}
        if is_amqp(url):
            options["confirm_publish"] = confirm
            heartbeat = BROKER_HEARTBEAT_S
    return Connection(url, transport=transport, transport_options=options,
                      connect_timeout=timeout_s, heartbeat=heartbeat)


def reconnect_delay(failures: int) -> float:
    """Seconds before reconnect attempt `failures + 1`: doubling from 0.1 s, capped at
    1 s, jittered so that workers do not all knock at once. A broker that comes back
    is used again within about a second."""
    return min(1.0, 0.1 * 2 ** failures) * random.uniform(0.5, 1.0)


def quorum_arguments(name: str, delivery_limit: int = DELIVERY_LIMIT) -> dict:
    """RabbitMQ arguments of queue `name` (see DEAD). At-least-once dead-lettering: a
    message leaves the queue only once its dead-letter queue has it (RabbitMQ needs
    `reject-publish` overflow for that; with no length limit it rejects nothing)."""
    return {"x-queue-type": "quorum", "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD.name, "x-dead-letter-routing-key": name,
            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def event_queue(name: str, routing_keys: Iterable[str],
                delivery_limit: int = DELIVERY_LIMIT) -> Queue:
    """A durable queue owned by one consumer, bound to `spa.events` by routing keys."""
    from kombu import binding

    return Queue(name, bindings=[binding(EVENTS, routing_key=k) for k in routing_keys],
                 durable=True, queue_arguments=quorum_arguments(name, delivery_limit))


def dead_letter_queue(queue: Queue) -> Queue:
    """Where RabbitMQ dead-letters `queue`'s messages (their `x-death` header says
    why); an operator reads them there and moves them back by hand once fixed."""
    return Queue(f"{queue.name}.dead", exchange=DEAD, routing_key=queue.name, durable=True,
                 queue_arguments={"x-queue-type": "quorum"})


class QueueMismatch(RuntimeError):
    """A queue exists on RabbitMQ with other arguments than this version declares."""

    def __init__(self, queue: str, error: Exception):
        super().__init__(
            f"queue {queue!r} exists with other arguments than this version declares (a "
            f"classic queue from before quorum queues?): stop the workers and run "
            f"`spa bus migrate`, which moves its messages into the queue as declared now. "
            f"RabbitMQ said: {error}")


def is_rabbitmq(connection: Connection) -> bool:
    return connection.transport.driver_type == "amqp"


def declare(connection: Connection, queues: Iterable[Queue]) -> None:
    """Create the exchange, queues and bindings, so nothing published is lost even
    before the consumer first starts; on RabbitMQ each queue's dead-letter queue too.
    A queue declared otherwise before raises QueueMismatch, which names the fix."""
    rabbitmq = is_rabbitmq(connection)
    with connection.channel() as channel:
        EVENTS(channel).declare()
        if rabbitmq:
            DEAD(channel).declare()
        for queue in queues:
            try:
                queue(channel).declare()
            except PreconditionFailed as error:  # RabbitMQ's: Redis never says it
                raise QueueMismatch(queue.name, error) from error
            if rabbitmq and (queue.queue_arguments or {}).get("x-dead-letter-exchange"):
                dead_letter_queue(queue)(channel).declare()


class Publisher:
    """Publishes envelopes as persistent JSON messages, retrying a lost connection."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self._producer: Producer | None = None

    def publish(self, envelope: Envelope) -> None:
        """Returns once the broker has the message: on RabbitMQ the connection confirms
        every publish (`broker_connection`), so a refusal raises here."""
        # `declare` matters: kombu's Redis transport routes only through exchanges
        # declared on the publishing channel (kombu caches it, so it costs nothing after).
        body = envelope_to_body(envelope)
        self.producer.publish(
            body, exchange=EVENTS, routing_key=envelope.type, serializer="json",
            delivery_mode=2, retry=True, declare=[EVENTS],
            retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5},
        )

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.connection)
        return self._producer


Handler = Callable[[Envelope], None]


class DeadLetters:
    """Messages that failed for good, kept in Redis per queue: list, count, replay."""

    def __init__(self, store: redis.Redis, prefix: str):
        self.store = store
        self.prefix = prefix

    def list_key(self, queue: str) -> str:
        return f"{self.prefix}:bus:{queue}:dead"

    def add(self, queue: str, body: object, error: str, attempts: int) -> None:
        entry = {"body": body, "error": error[:2000], "attempts": attempts,
                 "failed_at": datetime.now(UTC).isoformat()}
        self.store.rpush(self.list_key(queue), json.dumps(entry, default=str))

    def entries(self, queue: str) -> list[dict]:
        return [json.loads(raw) for raw in self.store.lrange(self.list_key(queue), 0, -1)]

    def replay(self, queue: str, connection: Connection) -> int:
        """Put every dead letter back on its queue (fresh attempt count); returns how many."""
        key, producer = self.list_key(queue), Producer(connection)
        # The letters listed now (one that fails again is listed anew, not replayed twice),
        # each removed only once published: a broker error leaves it listed, and a letter
        # published twice (two admins replaying at once) is deduped by its envelope id.
        letters = self.store.lrange(key, 0, -1)
        for raw in letters:
            producer.publish(json.loads(raw)["body"], exchange="", routing_key=queue,
                             serializer="json", delivery_mode=2, retry=True,
                             retry_policy=REPLAY_RETRY)
            self.store.lrem(key, 1, raw)
        return len(letters)


class EventConsumer:
    """Runs the handler for one queue's messages with the guarantees in the module doc."""

    def __init__(self, queue: Queue, handlers: dict[str, Handler], store: redis.Redis,
                 prefix: str, retry_delays_s: tuple[float, ...], dedupe_ttl_s: int,
                 lease_s: float = 120.0):
        self.queue = queue
        self.handlers = handlers
        self.store = store
        self.prefix = prefix
        self.retry_delays_s = retry_delays_s
        self.dedupe_ttl_s = dedupe_ttl_s
        self.lease_s = lease_s
        self.dead_letters = DeadLetters(store, prefix)

    @property
    def retry_key(self) -> str:
        return f"{self.prefix}:bus:{self.queue.name}:retry"

    def seen_key(self, envelope_id: str) -> str:
        return f"{self.prefix}:bus:{self.queue.name}:seen:{envelope_id}"

    def on_message(self, body: object, message) -> None:
        attempts = int(message.headers.get("x-attempts", 0)) + 1
        try:
            envelope = envelope_from_body(body)
        except ValidationError as error:
            # Poison: retrying cannot fix a malformed envelope.
            self.dead_letters.add(self.queue.name, body, f"invalid envelope: {error.messages}",
                                  attempts)
            message.ack()
            return
        self.handle(envelope, body, attempts)
        message.ack()  # handled, parked for retry, or dead-lettered: safe to ack now.

    def handle(self, envelope: Envelope, body: object, attempts: int) -> None:
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return  # bound by a wider pattern than we act on: nothing to do.
        seen = self.seen_key(envelope.id)
        if not self.store.set(seen, "running", nx=True, px=int(self.lease_s * 1000)):
            self.skip_or_wait_for_twin(seen, body, attempts)
            return
        try:
            handler(envelope)
        except Exception as error:  # noqa: BLE001 - any handler failure is retried
            self.store.delete(seen)
            self.retry_or_dead_letter(envelope, body, attempts, error)
            return
        self.store.set(seen, "done", ex=self.dedupe_ttl_s)

    def skip_or_wait_for_twin(self, seen: str, body: object, attempts: int) -> None:
        """A duplicate: drop it if the first copy is done; otherwise come back later.

        `running` means a twin is in its handler now, or a worker died in it. Acking would
        lose the event in the second case, so park the copy until the twin's lease ends:
        by then the twin is done (the copy is dropped) or the lease has lapsed (it runs).
        Waiting does not count as an attempt.
        """
        with self.store.pipeline(transaction=True) as pipe:
            state, lease_ms = pipe.get(seen).pttl(seen).execute()
        if state == "done":
            return
        self.park(body, attempts - 1, time.time() + max(lease_ms, 100) / 1000)

    def retry_or_dead_letter(self, envelope: Envelope, body: object, attempts: int,
                             error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"
        if attempts > len(self.retry_delays_s):
            log.error("dead-lettered", extra={"event_id": envelope.id, "type": envelope.type,
                                              "queue": self.queue.name, "error": reason})
            self.dead_letters.add(self.queue.name, body, reason, attempts)
            return
        log.warning("handler failed, will retry", extra={
            "event_id": envelope.id, "type": envelope.type, "attempt": attempts,
            "error": reason})
        self.park(body, attempts, time.time() + self.retry_delays_s[attempts - 1])

    def park(self, body: object, attempts: int, due: float) -> None:
        """Keep the message in Redis until `due`; `requeue_due` puts it back on the queue."""
        parked = json.dumps({"body": body, "attempts": attempts, "nonce": uuid.uuid4().hex})
        self.store.zadd(self.retry_key, {parked: due})

    def requeue_due(self, producer: Producer) -> int:
        """Move parked messages whose delay has passed back onto the queue. Every
        replica runs this: each message is claimed first (`claim_due`), so one replica
        requeues it; one that dies before removing it is requeued again after the
        lease, deduped by its envelope id."""
        due = claim_due(self.store, self.retry_key, time.time(), REQUEUE_LEASE_S)
        for parked in due:
            entry = json.loads(parked)
            try:
                producer.publish(entry["body"], exchange="", routing_key=self.queue.name,
                                 serializer="json", delivery_mode=2, retry=True,
                                 headers={"x-attempts": entry["attempts"]})
            except Exception:
                # the broker is away: the rest is due again at once, not after the
                # lease (those requeued are gone, and stay gone)
                unclaim(self.store, self.retry_key, due)
                raise
            self.store.zrem(self.retry_key, parked)
        return len(due)


@dataclass
class Periodic:
    """A job the worker runs between messages, at most every `interval_s`. A job that
    `yields_to_messages` waits while messages keep arriving (up to `max_wait_s` more),
    so that a burst is handled first, and is called with `busy`: when messages are
    still waiting, it should do a short part of its work and leave the rest."""

    interval_s: float
    run: Callable[..., object]
    yields_to_messages: bool = False
    max_wait_s: float = 1.0
    last: float = 0.0
    # A job that is a scan runs on one replica at a time: the one holding this lease
    # (services/common/claims.py). Jobs over items claim each item instead.
    lease: Lease | None = None

    def maybe_run(self, busy: bool = False) -> None:
        now = time.monotonic()
        waited = now - self.last - self.interval_s
        if waited >= 0 and not (busy and self.yields_to_messages and waited < self.max_wait_s):
            self.last = now
            try:
                if self.lease is None:
                    self.run(busy) if self.yields_to_messages else self.run()
                elif self.lease.acquire():  # else another replica runs it this turn
                    try:
                        self.run(busy) if self.yields_to_messages else self.run()
                    finally:
                        if not self.lease.keep:
                            self.lease.release()
            except Exception:  # noqa: BLE001 - a periodic job must not stop the worker
                log.exception("periodic job failed", extra={"job": getattr(self.run, "__name__",
                                                                              "job")})


class Worker(ConsumerMixin):
    """One process: event consumers, optional RPC servers, and periodic jobs."""

    def __init__(self, connection: Connection, consumers: list[EventConsumer],
                 rpc_servers: list | None = None, periodic: list[Periodic] | None = None):
        self.connection = connection
        self.event_consumers = consumers
        self.rpc_servers = rpc_servers or []
        self.periodic = periodic or []
        self._producer: Producer | None = None
        self._live: Connection | None = None
        self._probe = None  # the channel that asks for queue lengths
        self._busy = False

    def get_consumers(self, Consumer, channel):  # noqa: N803 - kombu's signature
        # RPC servers first: on Redis the prefetch is the channel's, so the last consumer's
        # sets it, and events want more in flight than requests do.
        consumers = [server.consumer(Consumer, channel) for server in self.rpc_servers]
        consumers += [Consumer(queues=[c.queue], callbacks=[self._note_message, c.on_message],
                               accept=["json"], prefetch_count=10)
                      for c in self.event_consumers]
        return consumers

    def run(self, **kwargs) -> None:
        """Consume until stopped. A lost broker or store connection is logged, and the
        worker connects again (`establish_connection`): its unacked messages come back
        to the queue, so nothing is lost, and a worker never dies of an outage."""
        errors = (*self.connection.connection_errors, *self.connection.channel_errors,
                  OperationalError, *STORE_DOWN, OSError)
        while not self.should_stop:
            try:
                for _ in self.consume(limit=None, **kwargs):
                    pass
            except errors as error:
                log.warning("connection lost; reconnecting", extra={
                    "error": type(error).__name__})
                time.sleep(reconnect_delay(0))
                self._await_stores()

    def _await_stores(self) -> None:
        """Consume again only once every consumer's store answers: each reconnect hands
        back the messages in flight, and RabbitMQ counts each such return against the
        queue's delivery limit, so an outage of the store must cost one, not one per
        reconnect (messages would be dead-lettered within seconds)."""
        stores = {id(consumer.store): consumer.store for consumer in self.event_consumers}
        failures = 0
        for store in stores.values():
            while not self.should_stop:
                try:
                    store.ping()
                    break
                except (redis.exceptions.RedisError, *STORE_DOWN):
                    time.sleep(reconnect_delay(failures))
                    failures += 1

    @contextmanager
    def establish_connection(self):
        """kombu's, with capped and jittered retries (`reconnect_delay`) instead of its
        backoff that grows to 30 s."""
        with self.create_connection() as connection:
            failures = 0
            while True:
                try:
                    connection.ensure_connection(max_retries=0)
                    break
                except (OperationalError, *connection.recoverable_connection_errors):
                    if self.should_stop:
                        raise
                    connection.maybe_switch_next()  # the next failover node, if listed
                    time.sleep(reconnect_delay(failures))
                    failures += 1
            try:
                yield connection
            except connection.connection_errors:
                # A dead RabbitMQ node answers no goodbye: closing politely would wait
                # out a read timeout per channel before the worker could reconnect.
                # (Redis's close puts unacked messages back: keep it.)
                if is_rabbitmq(connection):
                    connection.collect()
                raise

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self._live, self._probe = connection, None  # a new connection: a new probe channel
        self._producer = Producer(channel)
        for server in self.rpc_servers:
            server.producer = Producer(channel)
        log.info("worker ready", extra={"queues": [c.queue.name for c in self.event_consumers]})

    def _note_message(self, body, message) -> None:
        self._busy = True

    def on_iteration(self):
        if self._producer is not None:
            for consumer in self.event_consumers:
                consumer.requeue_due(self._producer)
        # Busy: the last wait for a message got one, so more may be queued behind it;
        # or (for jobs that yield) our queues hold messages another replica has not
        # taken yet: a burst's events go before any replica's deferrable work.
        busy, self._busy = self._busy, False
        if not busy and any(job.yields_to_messages for job in self.periodic):
            busy = self._events_waiting()
        for job in self.periodic:
            job.maybe_run(busy)

    def _events_waiting(self) -> bool:
        """Whether our event queues hold messages. Asked on a channel of its own: on
        RabbitMQ a refused passive declare closes its channel, never the consumers'."""
        if self._live is None:
            return False
        try:
            if self._probe is None:
                self._probe = self._live.channel()
            return any(consumer.queue(self._probe).queue_declare(passive=True)[1]
                       for consumer in self.event_consumers)
        except Exception:  # noqa: BLE001 - not knowing is not busy; consuming goes on
            self._probe = None
            return False
