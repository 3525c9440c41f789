"""The outbox relay marks an event sent only once RabbitMQ confirmed it (publisher
confirms, services/common/bus.broker_connection): a publish the broker refuses, or
one written to a connection that died, raises, and the event stays in the outbox."""

from __future__ import annotations

import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from amqp.exceptions import AccessRefused
from kombu import Queue, binding
from kombu.exceptions import OperationalError

from services.booking.bootstrap import bootstrap
from services.booking.handlers import jobs as handlers
from services.common import bus
from services.common.service import Infra
from tests.cluster import RabbitVhost, ctl, rabbitmq_reason
from tests.helpers import SilentProxy


@pytest.fixture
def refusing_vhost():
    """A vhost where guest may declare anything but not publish to `spa.events`:
    RabbitMQ refuses such a publish by closing the channel, asynchronously, so only a
    confirm tells the publisher."""
    if reason := rabbitmq_reason():
        pytest.skip(f"needs RabbitMQ on 127.0.0.1:5672: {reason}")
    vhost = RabbitVhost().create()
    ctl("set_permissions", "-p", vhost.name, "guest", ".*", r"^(?!spa\.events$).*", ".*")
    yield vhost
    vhost.delete()


def booking_created() -> bus.Envelope:
    return bus.Envelope("booking.created", {"booking_id": "b1"}, "booking", "london")


def listening(url: str) -> Queue:
    queue = Queue(f"test.booking-events.{uuid.uuid4().hex[:8]}",
                  bindings=[binding(bus.EVENTS, "booking.*")], durable=True)
    with bus.broker_connection(url) as connection, connection.channel() as channel:
        bus.EVENTS(channel).declare()
        queue(channel).declare()
    return queue


def received(url: str, queue: Queue) -> list[str]:
    with bus.broker_connection(url) as connection, connection.channel() as channel:
        return [m.payload["id"] for m in iter(lambda: queue(channel).get(no_ack=True), None)]


def test_an_event_the_broker_refuses_stays_in_the_outbox(settings, refusing_vhost):
    ctx = bootstrap(Infra.from_settings(replace(settings, broker_url=refusing_vhost.url)))
    queue = listening(refusing_vhost.url)
    event = booking_created()
    ctx.store.publish(event)
    with pytest.raises(AccessRefused):
        handlers.relay_outbox(ctx)
    assert [e.id for e in ctx.store.due_events()] == [event.id]
    ctl("set_permissions", "-p", refusing_vhost.name, "guest", ".*", ".*", ".*")
    handlers.relay_outbox(ctx)  # the same publisher: it recovered from the refusal
    assert ctx.store.due_events() == []
    assert received(refusing_vhost.url, queue) == [event.id]


@pytest.mark.parametrize("gone", ["closed", "silent"])
def test_an_event_published_as_the_node_goes_stays_in_the_outbox(settings, rabbitmq_url,
                                                                  gone):
    """Closed: the node went and said so. Silent: it went without a word (power lost,
    a partition); an unconfirmed publish lands in the socket buffer and returns."""
    port = urlsplit(rabbitmq_url).port
    proxy = SilentProxy(port)
    try:
        via_proxy = rabbitmq_url.replace(f":{port}/", f":{proxy.port}/")
        ctx = bootstrap(Infra.from_settings(replace(settings, broker_url=via_proxy)))
        queue = listening(rabbitmq_url)
        first, second = booking_created(), booking_created()
        ctx.store.publish(first)
        handlers.relay_outbox(ctx)  # connected, and sent
        proxy.close() if gone == "closed" else proxy.silent.set()
        ctx.store.publish(second)
        with pytest.raises(OperationalError):  # after the publisher's retries
            handlers.relay_outbox(ctx)
        assert [e.id for e in ctx.store.due_events()] == [second.id]
        assert received(rabbitmq_url, queue) == [first.id]
    finally:
        proxy.close()
