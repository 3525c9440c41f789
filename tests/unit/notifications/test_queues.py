"""The worker's declaration matches the events booking publishes."""

import re

from services.booking import queues as booking_queues
from services.notifications import handlers, queues


def routed(event_type: str, pattern: str) -> bool:
    """AMQP topic matching, for the patterns we use (`*` is one word)."""
    return re.fullmatch(pattern.replace(".", r"\.").replace("*", r"[^.]+"), event_type) \
        is not None


def test_every_event_booking_publishes_has_a_handler_and_reaches_the_queue():
    assert set(handlers.EVENT_HANDLERS) == set(booking_queues.PUBLISHES)
    patterns = [binding.routing_key for binding in queues.QUEUE.bindings]
    for event_type in booking_queues.PUBLISHES:
        assert any(routed(event_type, p) for p in patterns), event_type
    assert queues.QUEUE.name == "notifications.events" and queues.QUEUE.durable


def test_the_queue_hears_nothing_it_has_no_handler_for():
    patterns = [binding.routing_key for binding in queues.QUEUE.bindings]
    assert not routed("slot.held", patterns[0])
    assert all(any(routed(t, p) for t in handlers.EVENT_HANDLERS) for p in patterns)
