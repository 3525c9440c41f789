"""The worker's declaration matches the events booking publishes."""

from services.notifications import handlers, queues
from services.notifications.domain import BOOKING_EVENTS


def test_every_booking_event_has_a_handler_and_reaches_the_queue():
    assert set(handlers.EVENT_HANDLERS) == set(BOOKING_EVENTS)
    [binding] = queues.QUEUE.bindings
    assert (queues.QUEUE.name, binding.routing_key) == ("notifications.events", "booking.*")
    assert queues.QUEUE.durable
