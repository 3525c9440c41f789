"""The product with two replicas of every app and worker (`spa dev --replicas 2`), on a
stack of its own with a short hold TTL: each booking.created reaches a partner's
webhook once, each expired hold is announced once (slot.released), and reschedules
racing cancellations leave no reminder for a cancelled booking."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from services.availability.store import Store as AvailabilityStore
from services.cli import SERVICES
from services.common import bus
from services.common.redis import key
from tests.cluster import scaled_out
from tests.e2e.partner import book, direct, separate_starts
from tests.e2e.stack import Stack, running_stack
from tests.helpers import WebhookReceiver, wait_for

pytestmark = pytest.mark.timeout(150)

REPLICAS = 2
HOLD_TTL_S = 3
CALLERS = 8  # partner requests in flight at once


@pytest.fixture(scope="module", params=["redis", "cluster"])
def replicated(request, tmp_path_factory, smtp_server) -> Iterator[Stack]:
    env = {"SPA_HOLD_TTL_S": str(HOLD_TTL_S),
           "SPA_WEB_CONCURRENCY": "1"}  # each app's replicas are its processes here
    with ExitStack() as cleanup:
        if request.param == "cluster":  # as a scaled-out city runs: cluster, RabbitMQ
            env |= scaled_out(cleanup, tmp_path_factory).env
        yield cleanup.enter_context(running_stack(
            tmp_path_factory.mktemp(f"replicas-{request.param}"), smtp_server, env,
            started_by_tests=(), replicas=REPLICAS))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver().start()
    yield running
    running.stop()


def in_parallel(call, items: list) -> list:
    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(call, items))


def commands_under(ancestor: int) -> list[str]:
    """The command lines of the processes `spa dev` started (its descendants)."""
    parents, commands = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            commands[int(pid)] = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        except OSError:
            continue  # gone meanwhile
        parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == ancestor:
                return True
        return False

    # honcho runs each command in a shell: the processes themselves are its children
    return [command for pid, command in commands.items()
            if descends(pid) and not command.startswith(("/bin/sh ", "sh "))]


def quiet(stack: Stack) -> bool:
    """Booking's outbox relayed, and notifications' queue and the broker's unacked
    messages empty: nothing more is on its way to a receiver."""
    redis = stack.redis()
    return (redis.zcard(key("london", "booking", "outbox", "due")) == 0
            and redis.llen("notifications.events") == 0 and redis.hlen("unacked") == 0)


def test_every_worker_and_app_runs_twice(replicated):
    commands = commands_under(replicated.launcher.pid)
    for service in SERVICES:
        assert sum(f"-m services.{service}.worker" in c for c in commands) == REPLICAS
        assert sum(f"services.{service}.wsgi:app" in c and "--reuse-port" in c
                   for c in commands) >= REPLICAS  # the masters (and their workers)


def test_each_booking_created_reaches_the_webhook_once(replicated, receiver):
    hook = replicated.post("/v1/webhooks", key="partner",
                           json={"url": receiver.url, "events": ["booking.created"]})
    assert hook.status_code == 201, hook.text
    starts = separate_starts([replicated.workday() for _ in range(20)])
    assert len(starts) == 200
    responses = in_parallel(lambda start: book(replicated, direct(start)), starts)
    assert [r.status_code for r in responses] == [201] * 200, [r.text for r in responses
                                                              if r.status_code != 201][:3]
    booked = Counter(r.json()["id"] for r in responses)

    def delivered() -> Counter:
        return Counter(r.json()["data"]["id"] for r in list(receiver.received)
                       if r.json()["type"] == "booking.created")

    wait_for(lambda: set(delivered()) >= set(booked), timeout_s=45, interval_s=0.2,
             what="every booking.created at the webhook")
    wait_for(lambda: quiet(replicated), timeout_s=15, interval_s=0.2,
             what="the outbox and the queues to drain")
    assert delivered() == booked


def test_each_expired_hold_is_announced_once(replicated):
    queue = bus.event_queue("e2e.replicas.released", ["slot.released"])
    with bus.broker_connection(replicated.broker_url) as connection:
        bus.declare(connection, [queue])
    seen: list[dict] = []

    def drain() -> list[dict]:
        with bus.broker_connection(replicated.broker_url) as connection, \
                connection.channel() as channel:
            seen.extend(m.payload["payload"]
                        for m in iter(lambda: queue(channel).get(no_ack=True), None))
        return seen

    starts = separate_starts([replicated.workday() for _ in range(3)])
    holds = in_parallel(lambda start: replicated.post("/v1/holds", key="partner", json={
        "studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start}), starts)
    assert [h.status_code for h in holds] == [201] * len(starts)
    held = {h.json()["id"] for h in holds}

    def announced() -> set[str]:
        return {p["hold_id"] for p in drain() if p.get("reason") == "expired"}

    wait_for(lambda: announced() >= held, timeout_s=HOLD_TTL_S + 20, interval_s=0.2,
             what="every expired hold's slot.released")
    freed = AvailabilityStore(replicated.redis(), "london").freed_key("camden")
    wait_for(lambda: replicated.redis().zcard(freed) == 0, timeout_s=10,
             what="availability to relay all its news")
    drain()
    counts = Counter(p["hold_id"] for p in seen if p["hold_id"] in held)
    assert counts == Counter(held)


def test_reschedules_racing_cancellations_leave_no_reminder(replicated):
    days = [replicated.workday() for _ in range(4)]
    firsts, seconds = separate_starts(days[:2]), separate_starts(days[2:])
    bookings = [r.json()["id"] for r in in_parallel(
        lambda start: book(replicated, direct(start)), firsts)]

    def log(booking_id: str) -> list[dict]:
        response = replicated.get(f"/v1/notifications?booking={booking_id}", key="partner")
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def reminded(booking_id: str) -> bool:
        return any(e["kind"] == "reminder" and e["status"] == "pending"
                   for e in log(booking_id))

    wait_for(lambda: all(map(reminded, bookings)), timeout_s=20, interval_s=0.2,
             what="each booking's reminder to be scheduled")

    def move_then_cancel(pair: tuple[str, str]) -> tuple[int, int]:
        booking_id, start = pair
        path = f"/v1/bookings/{booking_id}"
        moved = replicated.post(f"{path}/reschedule", key="partner", json={"start": start})
        cancelled = replicated.post(f"{path}/cancel", key="partner", json={})
        return moved.status_code, cancelled.status_code

    outcomes = in_parallel(move_then_cancel, list(zip(bookings, seconds, strict=True)))
    assert outcomes == [(200, 200)] * len(bookings)

    def settled(booking_id: str) -> bool:
        kinds = {e["kind"] for e in log(booking_id)}
        return {"reschedule", "cancellation"} <= kinds

    wait_for(lambda: all(map(settled, bookings)), timeout_s=20, interval_s=0.2,
             what="both events of every booking to be handled")
    left = {b: [e for e in log(b) if e["kind"] in ("reminder", "last_meal")
                and e["status"] == "pending"] for b in bookings}
    assert {b: entries for b, entries in left.items() if entries} == {}
