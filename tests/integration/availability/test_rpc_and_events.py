"""The worker's side of the bus: RPC served over the real broker, and the slot events
it publishes (held; released and swept after expiry, and catalog changes, from the
studios' freed sets: at least once, whatever the broker does)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from services.availability.bootstrap import bootstrap
from services.availability.handlers import reservations
from services.common import bus
from services.common.errors import HoldExpired, Invalid, NotFound, SlotUnavailable
from services.common.service import Infra
from tests.helpers import bearer, wait_for
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


def test_a_hold_and_a_release_are_announced(rpc, ctx, slot_events):
    held = rpc["hold"](hold_params())
    rpc["release"]({"hold_id": held["hold_id"]})
    assert reservations.relay_freed(ctx) == 1
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
    assert reservations.relay_freed(ctx) == 1
    released = wait_for(lambda: [e for e in slot_events() if e["type"] == "slot.released"],
                        what="slot.released")
    assert [(e["payload"]["hold_id"], e["payload"]["reason"]) for e in released] == [
        (held["hold_id"], "expired")]
    with pytest.raises(HoldExpired, match="expires_at"):
        rpc["confirm"]({"hold_id": held["hold_id"], "booking_id": "bk-late"})



def test_news_of_freed_time_waits_out_a_broker_outage(rpc, ctx, settings, slot_events):
    held = rpc["hold"](hold_params())
    rpc["release"]({"hold_id": held["hold_id"]})
    dead = DEAD_AMQP if settings.broker.startswith("amqp") else DEAD_BROKER
    down = bootstrap(Infra.from_settings(replace(settings, broker_url=dead)), ctx.clock)
    with pytest.raises(Exception):  # noqa: B017 - whatever the transport raises
        reservations.relay_freed(down)
    assert reservations.relay_freed(ctx) == 1  # the broker is back: the news goes out
    assert reservations.relay_freed(ctx) == 0
    released = wait_for(lambda: [e for e in slot_events() if e["type"] == "slot.released"],
                        what="slot.released")
    assert [e["payload"]["hold_id"] for e in released] == [held["hold_id"]]


def test_news_published_twice_carries_the_same_envelope_id(rpc, ctx):
    held = rpc["hold"](hold_params())
    rpc["release"]({"hold_id": held["hold_id"]})
    [(raw, when)] = ctx.store.freed("camden")
    first = reservations.freed_envelope(ctx, "camden", raw, when)
    again = reservations.freed_envelope(ctx, "camden", raw, when)
    assert first.id == again.id and first.payload == again.payload


def test_a_catalog_change_announces_that_time_may_have_opened(app, api_keys, ctx,
                                                             slot_events):
    response = app.test_client().post(
        "/v1/studios/islington/closures", headers=bearer(api_keys["admin"]),
        json={"start": f"{DAY}T09:00:00Z", "end": f"{DAY}T12:00:00Z"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert reservations.relay_freed(ctx) == 2
    opened = wait_for(lambda: [e for e in slot_events() if e["type"] == "slot.opened"],
                      what="slot.opened")
    assert {e["payload"]["studio"] for e in opened} == {"camden", "islington"}
    assert all(e["payload"]["reason"] == "catalog" for e in opened)


def test_hold_first_holds_the_earliest_free_start_inside_a_window(rpc):
    taken = rpc["hold"](hold_params(start=f"{DAY}T10:00:00+00:00"))
    window = {"from": f"{DAY}T09:30:00+00:00", "to": f"{DAY}T12:30:00+00:00"}
    first = rpc["hold_first"]({**FIRST, "windows": [window], "hold_id": "wl-1"})
    # 09:30 would run into the 10:00 hold (and its 15 minutes of cleanup): 11:15 is next
    assert (first["start"], first["end"]) == (f"{DAY}T11:15:00+00:00",
                                              f"{DAY}T12:15:00+00:00")
    assert rpc["hold_first"]({**FIRST, "windows": [window], "hold_id": "wl-1"}) == first
    with pytest.raises(SlotUnavailable):
        rpc["hold_first"]({**FIRST, "windows": [window], "hold_id": "wl-2"})
    assert taken["hold_id"] != first["hold_id"]


def test_hold_first_skips_the_starts_it_is_told_to(rpc):
    window = {"from": f"{DAY}T08:00:00+00:00", "to": f"{DAY}T10:00:00+00:00"}
    held = rpc["hold_first"]({**FIRST, "windows": [window],
                              "skip": [f"{DAY}T08:00:00+00:00"]})
    assert held["start"] == f"{DAY}T08:15:00+00:00"


FIRST = {"studio": "camden", "treatment": "ashiatsu", "duration": 60}
DEAD_BROKER = "redis://127.0.0.1:1/0"
DEAD_AMQP = "amqp://guest:guest@127.0.0.1:1//"
