"""Request/reply over kombu: a direct exchange, `reply_to` and `correlation_id`, a timeout.

Guarantees: a request is acked by the server once it has replied; a request whose
caller has already given up (past its deadline) is dropped unanswered, so a late
hold is never written for nobody. A caller that hears nothing in time gets
`RpcTimeout` (an `Unavailable`). A refusal travels as its code, detail and extra
(`errors.SpaError.to_wire`) and is raised again on the calling side as the same class.

Deadlines are real time (not a service's Clock): two processes must agree on them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError
from marshmallow import Schema, ValidationError

from services.common.bus import quorum_arguments
from services.common.errors import BadRequest, Invalid, SpaError, Unavailable, from_wire
from services.common.redis import STORE_DOWN

log = logging.getLogger(__name__)

RPC = Exchange("spa.rpc", type="direct", durable=True)


class RpcTimeout(Unavailable):
    """The remote service did not answer in time: the call may still have acted."""


def error_reply(error: SpaError) -> dict:
    return {"error": error.to_wire()}


def rpc_queue(service: str) -> Queue:
    """A quorum queue on RabbitMQ (bus.DEAD): a request that kills the server again and
    again is dead-lettered. So is a request that expired unserved (the server was
    down): `<service>.rpc.dead` holds those too, for an operator to purge."""
    name = f"{service}.rpc"
    return Queue(name, exchange=RPC, routing_key=name, durable=True,
                 queue_arguments=quorum_arguments(name))


Method = Callable[[dict], dict]


def rpc_method(handler: Callable[[object], object], params: Schema,
               result: Schema | None = None) -> Method:
    """A method whose params are loaded by `params` into the handler's command at the
    edge and whose answer is dumped by `result` (or sent as it is); a refusal travels
    back as its code, like every SpaError."""

    def call(raw: dict) -> dict:
        try:
            command = params.load(raw)
        except ValidationError as error:
            raise Invalid(errors=error.messages) from None
        answer = handler(command)
        return result.dump(answer) if result else answer

    return call


class RpcServer:
    """Serves `methods` on `<service>.rpc`; plugs into `bus.Worker`."""

    def __init__(self, service: str, methods: dict[str, Method]):
        self.queue = rpc_queue(service)
        self.methods = methods
        self.producer: Producer | None = None

    def consumer(self, consumer_cls, channel):
        return consumer_cls(queues=[self.queue], callbacks=[self.on_request], accept=["json"],
                            prefetch_count=1)

    def on_request(self, body: dict, message) -> None:
        props = message.properties
        deadline = float(message.headers.get("x-deadline", 0) or 0)
        if deadline and time.time() > deadline:
            message.ack()  # the caller gave up: answering would act for nobody.
            return
        reply = self.call(body)
        self.producer.publish(reply, exchange="", routing_key=props["reply_to"],
                              correlation_id=props["correlation_id"], serializer="json",
                              retry=True)
        message.ack()

    def call(self, body: dict) -> dict:
        method = self.methods.get(body.get("method", "")) if isinstance(body, dict) else None
        if method is None:
            return error_reply(BadRequest(f"no method {body!r:.80}"))
        try:
            return {"result": method(body.get("params") or {})}
        except SpaError as error:
            return error_reply(error)
        except STORE_DOWN as error:  # the caller may try again: not a bug
            log.warning("rpc method could not reach the store",
                        extra={"method": body.get("method"), "error": type(error).__name__})
            return error_reply(Unavailable("the data store did not answer"))
        except Exception:  # noqa: BLE001 - report, never crash the server loop
            log.exception("rpc method failed", extra={"method": body.get("method")})
            return error_reply(SpaError("the remote call failed"))


class RpcClient:
    """One reply queue per client; thread-safe, one call at a time."""

    def __init__(self, connection: Connection, service: str, timeout_s: float):
        self.connection = connection
        self.server_queue = rpc_queue(service)
        self.routing_key = self.server_queue.name
        self.timeout_s = timeout_s
        # Classic, said outright: a reply is for this client only, now, so it needs no
        # replica, and a quorum queue (a vhost's default type may be) cannot auto-delete.
        self.reply_queue = Queue(
            f"rpc.reply.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}",
            exclusive=False, auto_delete=True, durable=False,
            queue_arguments={"x-queue-type": "classic"})
        self._lock = threading.Lock()
        self._pending = ""  # correlation id of the call in flight
        self._reply: dict | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._used = 0.0  # time.monotonic() of the last reply or connect

    def call(self, method: str, params: dict, timeout_s: float | None = None) -> dict:
        """The method's result; its refusal raised as its class; RpcTimeout when the
        broker or the server does not answer within the timeout, whatever failed."""
        deadline = time.time() + (timeout_s or self.timeout_s)
        with self._lock:
            try:
                return self._call(method, params, deadline)
            except (OSError, OperationalError, *self.connection.connection_errors,
                    *self.connection.channel_errors) as error:
                self._reset()
                self.connection.maybe_switch_next()  # the next failover node, if listed
                raise RpcTimeout(f"broker unreachable ({type(error).__name__})") from error

    def _call(self, method: str, params: dict, deadline: float) -> dict:
        self._ensure_consumer()
        correlation_id = self._pending = uuid.uuid4().hex
        self._reply = None
        # Straight to the server's queue through the default exchange: on Redis a
        # routed publish costs an extra round trip to read the exchange's bindings.
        self._producer.publish(
            {"method": method, "params": params}, exchange="", routing_key=self.routing_key,
            reply_to=self.reply_queue.name, correlation_id=correlation_id, serializer="json",
            headers={"x-deadline": deadline}, expiration=max(deadline - time.time(), 0.001),
        )
        return self._unwrap(self._wait(deadline))

    def _wait(self, deadline: float) -> dict:
        while self._reply is None:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise RpcTimeout(f"{self.routing_key} did not answer in time")
            try:
                self.connection.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                self.connection.heartbeat_check()  # kombu sends heartbeats only when asked
                continue
        self._used = time.monotonic()
        return self._reply

    def _on_reply(self, body: dict, message) -> None:
        # A late reply to an earlier call that timed out is dropped here.
        if message.properties.get("correlation_id") == self._pending:
            self._reply = body

    def _ensure_consumer(self) -> None:
        heartbeat = self.connection.heartbeat  # 0 on Redis
        if self._consumer is not None and heartbeat and \
                time.monotonic() - self._used > heartbeat:
            # Idle between calls, this client sent no heartbeats, and RabbitMQ closes a
            # connection it has not heard from for two: connect afresh rather than
            # lose a request on a connection the broker may have closed.
            self._reset()
        if self._consumer is None:
            self.server_queue(self.connection.default_channel).declare()
            self._producer = Producer(self.connection)
            # no_ack: a reply is worth nothing to anyone but this caller, now; acking
            # would cost the broker's unacked bookkeeping (on Redis, several commands a reply).
            self._consumer = Consumer(self.connection, queues=[self.reply_queue],
                                      callbacks=[self._on_reply], accept=["json"],
                                      no_ack=True)
            self._consumer.consume()
            self._used = time.monotonic()

    def _reset(self) -> None:
        self._consumer = None
        with contextlib.suppress(Exception):  # closing a dead connection may raise too
            self.connection.close()

    @staticmethod
    def _unwrap(reply: dict) -> dict:
        if "error" in reply:
            raise from_wire(reply["error"])
        return reply["result"]
