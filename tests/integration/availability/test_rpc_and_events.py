"""The worker's side of the bus: RPC served over the real broker, and the slot events
it publishes (held, released, and swept after expiry)."""

from __future__ import annotations

import uuid

import pytest

from services.availability.handlers import reservations
from services.common import bus
from services.common.errors import HoldExpired, Invalid, NotFound
from tests.helpers import wait_for
from tests.integration.availability.support import DAY, hold_params, serving


def test_booking_can_hold_confirm_and_release_over_the_broker(ctx):
    with serving(ctx) as client:
        held = client.call("hold", hold_params())
        confirmed = client.call("confirm", {"hold_id": held["hold_id"], "booking_id": "bk-9"})
        released = client.call("release", {"hold_id": held["hold_id"]})
    assert held["therapist"]["id"] == "maya"
    assert confirmed["status"] == "confirmed" and released["released"] is True


def test_refusals_cross_the_broker_as_the_same_class_code_and_errors(ctx):
    with serving(ctx) as client:
        with pytest.raises(NotFound) as missing:
            client.call("describe", {"studio": "camden", "treatment": "reiki"})
        with pytest.raises(Invalid) as invalid:
            client.call("hold", hold_params(duration=45))
        assert client.call("ping", {})["pong"] is True
    assert missing.value.code == "not_found" and "reiki" in missing.value.detail
    assert invalid.value.extra["errors"] == {"duration": ["ashiatsu lasts 60 or 90 minutes"]}


@pytest.fixture
def slot_events(ctx):
    """Every slot.* event published from now on, read from a queue of this test's own."""
    queue = bus.event_queue(f"availtest.{uuid.uuid4().hex[:8]}", ["slot.*"])
    with bus.broker_connection(ctx.infra.broker_url) as connection:
        bus.declare(connection, [queue])
        with connection.channel() as channel:
            bound = queue(channel)
            received: list[dict] = []

            def read() -> list[dict]:
                while message := bound.get(no_ack=True):
                    received.append(bus.envelope_from_body(message.body).__dict__)
                return received

            yield read
            bound.delete()


def test_a_hold_and_a_release_are_announced(rpc, slot_events):
    held = rpc["hold"](hold_params())
    rpc["release"]({"hold_id": held["hold_id"]})
    events = wait_for(lambda: len(slot_events()) >= 2 and slot_events(), what="two events")
    assert [e["type"] for e in events] == ["slot.held", "slot.released"]
    assert events[0]["source"] == "availability" and events[0]["city"] == "london"
    assert events[0]["payload"] == {
        "hold_id": held["hold_id"], "studio": "camden", "therapist": "maya",
        "room": "camden-bars", "start": f"{DAY}T10:00:00+00:00",
        "end": f"{DAY}T11:00:00+00:00", "expires_at": held["expires_at"]}
    assert events[1]["payload"]["reason"] == "released"


def test_the_sweeper_announces_expired_holds_once_and_keeps_them_expired(rpc, ctx, clock,
                                                                          slot_events):
    held = rpc["hold"](hold_params(ttl_s=60))
    kept = rpc["hold"](hold_params(start=f"{DAY}T14:00:00+00:00"))
    rpc["confirm"]({"hold_id": kept["hold_id"], "booking_id": "bk-kept"})
    clock.advance(seconds=61)
    assert reservations.sweep_expired(ctx) == 1
    assert reservations.sweep_expired(ctx) == 0
    released = wait_for(lambda: [e for e in slot_events() if e["type"] == "slot.released"],
                        what="slot.released")
    assert [(e["payload"]["hold_id"], e["payload"]["reason"]) for e in released] == [
        (held["hold_id"], "expired")]
    with pytest.raises(HoldExpired, match="expires_at"):
        rpc["confirm"]({"hold_id": held["hold_id"], "booking_id": "bk-late"})

