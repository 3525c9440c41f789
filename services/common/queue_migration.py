"""`spa bus migrate`: a queue that RabbitMQ holds with other arguments than this version
declares (a classic queue from before quorum queues) becomes the queue declared now,
with its messages.

RabbitMQ refuses to redeclare such a queue (PRECONDITION_FAILED: workers say so at
startup) and cannot change a queue's type in place, so its messages go through a
holding queue, `<queue>.migrating`:

1. The holding queue (quorum, bound like the queue) is declared: from now on every
   event published reaches it too. A copy that reached the old queue as well is
   handled once (consumers dedupe by envelope id).
2. The old queue's messages move into it, and the old queue is deleted.
3. The queue is declared as now, the holding queue unbound, its messages moved in,
   and it is deleted.

A message moves by get, publish (confirmed by the broker), then ack: none is lost, a
crash between publish and ack leaves a duplicate. Run with the workers stopped (a
queue with consumers is refused); RPC requests sent during the move are lost and
their callers time out, as while the workers are down. Interrupted, a second run
goes on where the first stopped: a holding queue left behind is emptied into its
queue. A Redis broker has nothing to migrate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Queue

from services.common import bus

HOLDING = ".migrating"
# Properties a moved message keeps besides its content type and headers.
KEPT = ("delivery_mode", "correlation_id", "reply_to", "expiration", "message_id",
        "timestamp", "type", "app_id")


class MigrationRefused(RuntimeError):
    """A queue cannot be migrated now; the message says why."""


def migrate(connection: Connection, queues: Iterable[Queue]) -> list[str]:
    """Migrate every queue that needs it; one line per queue saying what was done.
    `connection` must confirm publishes (`bus.broker_connection` does by default)."""
    if not bus.is_rabbitmq(connection):
        return ["the broker is not RabbitMQ: nothing to migrate"]
    queues = list(queues)
    lines = [migrate_queue(connection, queue) for queue in queues]
    bus.declare(connection, queues)  # the dead-letter exchange and queues
    return lines


def migrate_queue(connection: Connection, queue: Queue) -> str:
    holding = holding_queue(queue)
    moved_out = 0
    if not _declared(connection, queue):
        consumers = _on_channel(connection, lambda channel: queue(channel).queue_declare(
            passive=True).consumer_count)
        if consumers:
            raise MigrationRefused(f"{queue.name} has {consumers} consumer(s): stop the "
                                   f"workers, then run `spa bus migrate` again")
        _on_channel(connection, lambda channel: holding(channel).declare())
        moved_out = _move(connection, queue.name, holding.name)
        _on_channel(connection, lambda channel: channel.queue_delete(queue.name))
        if not _declared(connection, queue):
            raise MigrationRefused(f"{queue.name} could not be declared again")
    if not _exists(connection, holding.name):
        return f"{queue.name}: as declared, nothing to move"
    _on_channel(connection, lambda channel: _unbind(holding(channel)))
    moved_in = _move(connection, holding.name, queue.name)
    _on_channel(connection, lambda channel: channel.queue_delete(holding.name))
    return (f"{queue.name}: migrated ({moved_out} message(s) out of the old queue, "
            f"{moved_in} into the new one, through {holding.name})")


def holding_queue(queue: Queue) -> Queue:
    return Queue(f"{queue.name}{HOLDING}", exchange=queue.exchange,
                 routing_key=queue.routing_key, bindings=list(queue.bindings), durable=True,
                 queue_arguments={"x-queue-type": "quorum"})


def _unbind(queue: Queue) -> None:
    for binding in queue.bindings:
        queue.unbind_from(binding.exchange, binding.routing_key)
    if queue.exchange and queue.exchange.name:
        queue.unbind_from(queue.exchange, queue.routing_key)


def _move(connection: Connection, source: str, target: str) -> int:
    """Every message of `source` into `target`, each acked once its copy is confirmed."""
    moved = 0
    with connection.channel() as channel:
        while (message := Queue(source)(channel).get(no_ack=False)) is not None:
            properties = {k: v for k, v in message.properties.items() if k in KEPT}
            headers = {k: v for k, v in (message.headers or {}).items()
                       if k != "x-delivery-count"}  # the broker's, counted afresh
            copy = channel.prepare_message(message.body, message.properties.get("priority"),
                                           message.content_type, message.content_encoding,
                                           headers, properties)
            # Confirmed whatever the connection's options: the ack below deletes the
            # original, so the copy must be the broker's first.
            channel.basic_publish_confirm(copy, exchange="", routing_key=target)
            message.ack()
            moved += 1
    return moved


def _declared(connection: Connection, queue: Queue) -> bool:
    """Declare `queue` as now; False when RabbitMQ holds it with other arguments."""
    try:
        _on_channel(connection, lambda channel: queue(channel).declare())
    except PreconditionFailed:
        return False
    return True


def _exists(connection: Connection, name: str) -> bool:
    try:
        _on_channel(connection, lambda channel: channel.queue_declare(name, passive=True))
    except NotFound:
        return False
    return True


def _on_channel(connection: Connection, work: Callable):
    """`work(channel)` on a channel of its own: a refusal closes only that channel."""
    channel = connection.channel()
    try:
        return work(channel)
    finally:
        if channel.is_open:
            channel.close()
