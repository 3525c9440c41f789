"""When something breaks: availability silent or slow, the broker down, a request that
died mid-saga. The answer is clear and the worker makes the ledger and the bookings
agree again."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.booking.app import create_app
from services.booking.bootstrap import bootstrap
from services.booking.commands import SlotRequest
from services.booking.domain import Customer, Screening, begin_reschedule, new_booking
from services.booking.handlers import jobs as handlers
from services.booking.store import Change
from services.common import bus
from services.common.redis import EmbeddedRedis, free_port, key
from services.common.service import Infra
from tests.helpers import ManualClock, wait_for
from tests.integration.booking.availability import NOW
from tests.integration.booking.support import INTAKE, START, Api, assert_problem, direct_booking


@pytest.fixture
def impatient(settings):
    """Settings whose RPC calls give up after 0.3 s."""
    return replace(settings, rpc_timeout_s=0.3)


def app_for(settings):
    return create_app({"redis_url": settings.redis_url, "broker_url": settings.broker_url,
                       "rpc_timeout_s": settings.rpc_timeout_s, "data_key": settings.data_key},
                      ManualClock.flowing_from(NOW))


class TestAvailabilitySilent:
    def test_a_booking_is_a_503_and_nothing_is_written(self, one_redis, impatient, api_keys,
                                                       redis_client, redis_server):
        # No consumer listens on this broker database: availability is down.
        silent = replace(impatient, broker_url=redis_server.url.replace("/0", "/1"))
        partner = Api(app_for(silent), api_keys["partner"])
        response = partner.book(direct_booking(), key="k1")
        assert_problem(response, 503, "dependency_unavailable")
        assert response.headers["Retry-After"] == "1"
        assert redis_client.keys(key("london", "booking", "*")) == []

    def test_a_slow_reserve_fails_the_booking_and_the_worker_frees_the_time(
            self, impatient, api_keys, availability, redis_client):
        availability.stall_s["reserve"] = 0.6  # reserves after the caller gave up
        app = app_for(impatient)
        partner = Api(app, api_keys["partner"])
        assert_problem(partner.book(direct_booking()), 503, "dependency_unavailable")
        assert partner.get("/v1/bookings").get_json()["items"] == []
        ctx = app.extensions["spa"]
        assert ctx.store.due_events() == []
        # Released at once, and queued to be released again once the late call is
        # surely over: a release that ran first would have found nothing to free.
        assert redis_client.zcard(key("london", "booking", "releases")) == 1
        availability.stall_s.clear()
        wait_for(lambda: handlers.retry_releases(ctx) or not availability.reservations(),
                 what="the late confirmed reservation to be released")

    def test_a_slow_hold_is_a_503_and_the_worker_frees_the_late_hold(
            self, impatient, api_keys, availability):
        availability.stall_s["hold"] = 0.6  # the hold is made after the caller gave up
        app = app_for(impatient)
        partner = Api(app, api_keys["partner"])
        held = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                               "duration": 60, "start": START})
        assert_problem(held, 503, "dependency_unavailable")
        wait_for(lambda: availability.reservations(), what="the late hold to be made")
        availability.stall_s.clear()
        ctx = app.extensions["spa"]
        wait_for(lambda: handlers.retry_releases(ctx) or not availability.reservations(),
                 what="the orphaned hold to be released")

    def test_a_cancel_is_recorded_and_the_release_retried(self, impatient, api_keys,
                                                          availability):
        app = app_for(impatient)
        partner = Api(app, api_keys["partner"])
        booking = partner.book(direct_booking()).get_json()
        availability.stall_s["release"] = 0.6
        response = partner.post(f"/v1/bookings/{booking['id']}/cancel", json={})
        assert response.get_json()["status"] == "cancelled"
        availability.stall_s.clear()
        ctx = app.extensions["spa"]
        wait_for(lambda: handlers.retry_releases(ctx) or not availability.reservations(),
                 what="the cancelled booking's time to be freed")


    def test_a_slow_reschedule_is_a_503_and_the_booking_keeps_its_time(
            self, impatient, api_keys, availability):
        app = app_for(impatient)
        partner = Api(app, api_keys["partner"])
        booking = partner.book(direct_booking()).get_json()
        availability.stall_s["hold"] = 0.6
        response = partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                                json={"start": "2027-03-11T10:00:00+00:00"})
        assert_problem(response, 503, "dependency_unavailable")
        assert partner.get(f"/v1/bookings/{booking['id']}").get_json() == booking
        availability.stall_s.clear()
        ctx = app.extensions["spa"]
        wait_for(lambda: handlers.retry_releases(ctx) or len(availability.reservations()) == 1,
                 what="the late new hold to be released")
        assert availability.reservations()[0].booking_id == booking["id"]


class TestBrokerUnreachable:
    """Nobody answers on the broker's port (refused), or it accepts and never speaks
    (hung): every request answers within the RPC timeout, 503 or, where the change is
    already committed, its success."""

    @pytest.fixture(params=["refused", "hung"])
    def broker_down(self, request, impatient):
        # a broker of the kind the store allows: RabbitMQ beside a cluster
        url = ("amqp://guest:guest@127.0.0.1:{}//" if impatient.broker.startswith("amqp")
               else "redis://127.0.0.1:{}/0")
        if request.param == "refused":
            yield replace(impatient, broker_url=url.format(1))
            return
        with socket.create_server(("127.0.0.1", 0)) as silent:
            yield replace(impatient, broker_url=url.format(silent.getsockname()[1]))

    def test_a_booking_is_a_503_within_the_rpc_timeout(self, broker_down, api_keys,
                                                       redis_client):
        partner = Api(app_for(broker_down), api_keys["partner"])
        started = time.monotonic()
        assert_problem(partner.book(direct_booking()), 503, "dependency_unavailable")
        assert time.monotonic() - started < broker_down.rpc_timeout_s + 0.5
        assert redis_client.keys(key("london", "booking", "booking", "*")) == []

    def test_a_committed_cancel_answers_200_and_the_worker_frees_the_time_later(
            self, broker_down, partner, api_keys, availability):
        booking = partner.book(direct_booking()).get_json()  # while the broker is up
        cut_off = Api(app_for(broker_down), api_keys["partner"])
        started = time.monotonic()
        response = cut_off.post(f"/v1/bookings/{booking['id']}/cancel", json={})
        assert time.monotonic() - started < broker_down.rpc_timeout_s + 0.5
        assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
        assert len(availability.reservations()) == 1  # not yet released...
        ctx = partner.client.application.extensions["spa"]  # ...until a worker can
        ctx.store.saga_timeout_s = 0
        ctx.store.queue_release(booking_hold(ctx, booking["id"]))
        wait_for(lambda: handlers.retry_releases(ctx) or not availability.reservations(),
                 what="the cancelled booking's time to be freed")


def booking_hold(ctx, booking_id: str) -> str:
    return ctx.store.get(booking_id).hold_id


class TestDeadRequests:
    """A booking process can die between any two steps; `undo_stale_sagas` cleans up
    once the saga's deadline has passed (here at once: saga_timeout_s = 0)."""

    def pending_booking(self, ctx):
        wanted = SlotRequest("camden", "ashiatsu", 60, datetime.fromisoformat(START))
        hold = ctx.availability.hold(wanted, "h_dead")
        describe = ctx.availability.describe("camden", "ashiatsu")
        booking = new_booking("bk_dead", hold, Customer("Ada", "ada@example.com"),
                              Screening(None), describe, datetime.now(UTC))
        return ctx.store.commit(Change(booking))

    def test_a_saga_inside_its_deadline_is_left_alone(self, ctx, availability):
        self.pending_booking(ctx)
        handlers.undo_stale_sagas(ctx)
        assert ctx.store.get("bk_dead").status == "pending"
        assert len(availability.reservations()) == 1

    def test_a_booking_stuck_after_confirm_is_failed_and_its_time_freed(
            self, ctx, availability, partner):
        ctx.store.saga_timeout_s = 0
        self.pending_booking(ctx)
        ctx.availability.confirm("h_dead", "bk_dead")  # ...then the process died
        handlers.undo_stale_sagas(ctx)
        assert availability.reservations() == []
        assert ctx.store.get("bk_dead").status == "failed"
        assert_problem(partner.get("/v1/bookings/bk_dead"), 404, "not_found")
        assert ctx.store.due_events() == []

    def test_a_request_that_finishes_late_loses_to_the_undo(self, ctx, availability):
        ctx.store.saga_timeout_s = 0
        pending = self.pending_booking(ctx)
        handlers.undo_stale_sagas(ctx)
        late = replace(pending, status="confirmed")
        assert ctx.store.commit(Change(late)) is None  # the compare-and-set refuses it

    def test_a_reschedule_stuck_after_its_new_confirm_keeps_the_old_time(
            self, partner, availability, ctx):
        booking = partner.book(direct_booking()).get_json()
        stored = ctx.store.get(booking["id"])
        ctx.store.saga_timeout_s = 0
        ctx.store.commit(Change(begin_reschedule(stored, "h_new")))
        later = SlotRequest("camden", "ashiatsu", 60, stored.start + timedelta(days=1))
        ctx.availability.hold(later, "h_new")
        ctx.availability.confirm("h_new", booking["id"])  # ...then the process died
        handlers.undo_stale_sagas(ctx)
        assert [r.hold_id for r in availability.reservations()] == [stored.hold_id]
        assert partner.get(f"/v1/bookings/{booking['id']}").get_json() == booking


@pytest.fixture
def broker(tmp_path):
    """A broker of its own that the test can stop and start again on the same port."""
    server = EmbeddedRedis(tmp_path / "broker", port=free_port())
    server.start()
    yield server
    server.stop()


def booking_events_queue(broker_url: str):
    queue = bus.event_queue("test.booking-events", ["booking.*"])
    with bus.broker_connection(broker_url) as connection:
        bus.declare(connection, [queue])
    return queue


def received(broker_url: str, queue) -> list[str]:
    with bus.broker_connection(broker_url) as connection, connection.channel() as channel:
        messages = iter(lambda: queue(channel).get(no_ack=True), None)
        return [message.payload["id"] for message in messages]


def test_events_wait_while_the_broker_is_down_then_go(one_redis, settings, broker, partner,
                                                     availability):
    ctx = bootstrap(Infra.from_settings(replace(settings, broker_url=broker.url)))
    queue = booking_events_queue(broker.url)
    partner.book(direct_booking())  # the app's own broker is the session Redis
    partner.book(direct_booking(intake={**INTAKE, "pressure": "firm"}))
    committed = [e.id for e in partner.client.application.extensions["spa"].store.due_events()]
    broker.stop()
    with pytest.raises(Exception):  # noqa: B017 - whatever kombu raises for a dead broker
        handlers.relay_outbox(ctx)
    assert [e.id for e in ctx.store.due_events()] == committed
    broker.start()
    wait_for(lambda: _relayed(ctx), what="the relay to publish once the broker is back")
    assert received(broker.url, queue) == committed
    assert ctx.store.due_events() == []


def _relayed(ctx) -> bool:
    try:
        handlers.relay_outbox(ctx)
    except Exception:  # noqa: BLE001 - still reconnecting
        return False
    return True
