"""Chaos, bounded: the stack of `make run` while its dependencies fail under load.

A stack of its own, whose store is a Redis this module kills and restarts, whose
broker is another Redis reached through a TCP proxy this module cuts, and whose
three workers this module starts, kills and starts again. Each test runs a paced
burst of partner requests through the gateway while one thing fails, then checks
what partners were told against what the store holds, and that every event went
out once. Figures each test measured are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pytest
import requests

from services.common.redis import EmbeddedRedis
from tests.e2e.partner import book, bookings_on, direct, offered, separate_starts
from tests.e2e.stack import LONDON, running_stack
from tests.helpers import TcpProxy, WebhookReceiver, wait_for

WORKERS = ("availability-worker", "booking-worker", "notifications-worker")
RPC_TIMEOUT_S = 2.0
ANSWER_WITHIN_S = RPC_TIMEOUT_S + 1.0  # the RPC timeout, and the request around it
RECOVERY_WITHIN_S = 3.0


@dataclass
class Outside:
    """What the stack depends on, in this module's hands."""

    store: EmbeddedRedis
    broker: EmbeddedRedis
    proxy: TcpProxy  # the services reach the broker only through it


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    root = tmp_path_factory.mktemp("chaos-deps")
    store, broker = EmbeddedRedis(root / "store"), EmbeddedRedis(root / "broker")
    store.start(), broker.start()
    proxy = TcpProxy(broker.port).start()
    yield Outside(store, broker, proxy)
    proxy.cut()
    store.stop(), broker.stop()


@pytest.fixture(scope="module")
def receiver():
    receiving = WebhookReceiver().start()
    yield receiving
    receiving.stop()


@pytest.fixture(scope="module")
def chaos(tmp_path_factory, outside, smtp_server, receiver):
    env = {"SPA_REDIS_URL": outside.store.url, "SPA_BROKER_URL": outside.proxy.url,
           "SPA_RPC_TIMEOUT_S": str(RPC_TIMEOUT_S)}
    with running_stack(tmp_path_factory.mktemp("chaos"), smtp_server, env,
                       started_by_tests=WORKERS) as stack:
        hook = stack.post("/v1/webhooks", json={
            "url": receiver.url, "events": ["booking.created", "booking.cancelled"]})
        assert hook.status_code == 201, hook.text
        yield stack


@dataclass
class Answer:
    kind: str  # "book" or "cancel"
    subject: str  # the start booked, or the booking cancelled
    status: int  # 0: no answer at all
    seconds: float
    body: dict


def paced(calls: list[tuple[str, str, Callable[[], requests.Response]]],
          every_s: float, during: Callable[[], None]) -> list[Answer]:
    """Send `calls` one every `every_s` from eight clients while `during()` breaks
    something; every answer, with how long it took."""
    def timed(kind: str, subject: str, call) -> Answer:
        started = time.monotonic()
        try:
            response = call()
            body = response.json() if response.content else {}
            status = response.status_code
        except requests.RequestException:
            body, status = {}, 0
        return Answer(kind, subject, status, time.monotonic() - started, body)

    with ThreadPoolExecutor(8) as pool:
        breaking = threading.Thread(target=during)
        breaking.start()
        futures = []
        for kind, subject, call in calls:
            futures.append(pool.submit(timed, kind, subject, call))
            time.sleep(every_s)
        breaking.join()
        return [future.result() for future in futures]


def booking_calls(stack, starts: list[str]) -> list:
    return [("book", start, lambda s=start: book(stack, direct(s), timeout=30))
            for start in starts]


def cancel_calls(stack, booking_ids: list[str]) -> list:
    return [("cancel", booking_id,
             lambda b=booking_id: stack.post(f"/v1/bookings/{b}/cancel", key="partner",
                                             json={}, timeout=30))
            for booking_id in booking_ids]


def interleave(*lists: list) -> list:
    longest = max(map(len, lists))
    return [item for n in range(longest) for items in lists if n < len(items)
            for item in [items[n]]]


def assert_every_answer_was_a_problem_or_success(answers: list[Answer], *allowed: int):
    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= {200, 201, *allowed}, statuses
    slowest = max(a.seconds for a in answers)
    assert slowest < ANSWER_WITHIN_S, f"an answer took {slowest:.1f} s"
    problems = [a for a in answers if a.status >= 400]
    assert all(a.body.get("code") == "dependency_unavailable" for a in problems), problems


def confirmed(stack, days: list[str]) -> set[str]:
    return {b["id"] for day in days for b in bookings_on(stack, day, status="confirmed")}


def until_a_booking_succeeds(stack, start: str) -> tuple[float, str]:
    """Book `start` again and again until it is 201: how long that took, and the
    booking (the same Idempotency-Key each time, so a late success is not doubled)."""
    started, key = time.monotonic(), uuid.uuid4().hex
    while time.monotonic() - started < 30:
        try:
            response = book(stack, direct(start), key=key, timeout=10)
        except requests.RequestException:
            response = None
        if response is not None and response.status_code == 201:
            return time.monotonic() - started, response.json()["id"]
        time.sleep(0.05)
    raise AssertionError("no booking succeeded within 30 s of the recovery")


def webhooks_by_event(receiver: WebhookReceiver) -> Counter:
    return Counter((r.json()["type"], r.json()["data"]["id"]) for r in receiver.received)


def test_a_broker_outage_during_bookings_and_cancels(chaos, outside, receiver):
    days = [chaos.workday() for _ in range(4)]
    starts = separate_starts(days)  # 40 that never overlap
    earlier = [book(chaos, direct(start)) for start in starts[:10]]
    assert [r.status_code for r in earlier] == [201] * 10
    earlier_ids = [r.json()["id"] for r in earlier]

    recovery: dict = {}

    def outage():
        time.sleep(0.5)
        outside.proxy.cut()
        time.sleep(5.0)
        outside.proxy.restore()
        recovery["at"] = time.monotonic()
        recovery["seconds"], recovery["probe"] = until_a_booking_succeeds(chaos, starts[30])
        committed = {("booking.cancelled", b) for b in earlier_ids}  # during the outage
        wait_for(lambda: committed <= set(webhooks_by_event(receiver)), timeout_s=30,
                 what="the events committed during the outage to go out")
        recovery["drained"] = time.monotonic() - recovery["at"]

    calls = interleave(booking_calls(chaos, starts[10:30]), cancel_calls(chaos, earlier_ids))
    answers = paced(calls, every_s=0.25, during=outage)
    recovery_s, probe = recovery["seconds"], recovery["probe"]
    print(f"\nbroker outage: {Counter(a.status for a in answers)}; slowest answer "
          f"{max(a.seconds for a in answers):.2f} s; booking again {recovery_s:.2f} s after")

    assert_every_answer_was_a_problem_or_success(answers, 503)
    assert any(a.status == 503 for a in answers), "the outage hit no request"
    assert recovery_s < RECOVERY_WITHIN_S
    booked = {a.body["id"] for a in answers if a.kind == "book" and a.status == 201}
    cancelled = {a.subject for a in answers if a.kind == "cancel" and a.status == 200}
    # Every change the store committed was answered 2xx, and every 2xx was committed.
    assert cancelled == set(earlier_ids)  # a committed cancel answers 200, outage or not
    assert confirmed(chaos, days) == booked | {probe}
    # Every event goes out once the broker is back: each webhook exactly once.
    wanted = ({("booking.created", b) for b in booked | set(earlier_ids)}
              | {("booking.cancelled", b) for b in cancelled})
    wait_for(lambda: wanted <= set(webhooks_by_event(receiver)), timeout_s=30,
             what="every booking event's webhook")
    drained_s = recovery["drained"]
    seen = webhooks_by_event(receiver)
    assert all(seen[event] == 1 for event in wanted), seen
    # The cancelled times are free again once the worker could release them.
    wait_for(lambda: all(s in offered(chaos, day_of(s)) for s in starts[:10]),
             timeout_s=20, what="the cancelled times to be offered again")
    print(f"events of the outage out {drained_s:.2f} s after the broker came back; the "
          f"cancelled times free {time.monotonic() - recovery['at']:.2f} s after")
    assert drained_s < RECOVERY_WITHIN_S


def day_of(start: str) -> str:
    return datetime.fromisoformat(start).astimezone(LONDON).date().isoformat()


def test_a_redis_crash_during_bookings(chaos, outside):
    days = [chaos.workday() for _ in range(3)]
    starts = separate_starts(days)

    recovery: dict = {}

    def crash():
        time.sleep(1.0)
        outside.store.process.kill()  # SIGKILL: no shutdown, no last write
        outside.store.process.wait()
        time.sleep(2.0)
        outside.store.start()
        recovery["seconds"], _ = until_a_booking_succeeds(chaos, starts[16])

    answers = paced(booking_calls(chaos, starts[:16]), every_s=0.25, during=crash)
    recovery_s = recovery["seconds"]
    print(f"\nredis crash: {Counter(a.status for a in answers)}; booking again "
          f"{recovery_s:.2f} s after the restart")
    assert_every_answer_was_a_problem_or_success(answers, 503)
    assert any(a.status == 503 for a in answers), "the crash hit no request"
    assert recovery_s < RECOVERY_WITHIN_S
    for answer in answers:
        if answer.status == 201:  # every booking a partner was told of survived
            found = chaos.get(f"/v1/bookings/{answer.body['id']}", key="partner")
            assert found.status_code == 200 and found.json()["status"] == "confirmed"


def test_killing_each_worker_during_bookings(chaos, receiver, smtp_server):
    days = [chaos.workday() for _ in range(3)]
    starts = separate_starts(days)[:24]

    def kill_each_worker():
        for name in WORKERS:
            time.sleep(1.2)
            chaos.stop_process(name, signal.SIGKILL)
            time.sleep(0.3)
            chaos.start_process(name)

    answers = paced(booking_calls(chaos, starts), every_s=0.2, during=kill_each_worker)
    print(f"\nworkers killed: {Counter(a.status for a in answers)}")
    assert_every_answer_was_a_problem_or_success(answers, 503)
    booked = {a.body["id"]: a.body for a in answers if a.status == 201}
    assert confirmed(chaos, days) == set(booked)
    wanted = {("booking.created", b) for b in booked}
    wait_for(lambda: wanted <= set(webhooks_by_event(receiver)), timeout_s=40,
             what="every booking's webhook")
    wait_for(lambda: {m["X-Spa-Booking"] for m in smtp_server.messages} >= set(booked),
             timeout_s=40, what="every booking's confirmation email")
    emails = Counter((m["X-Spa-Booking"], m["Message-ID"]) for m in smtp_server.messages
                     if m["X-Spa-Booking"] in booked)
    seen = webhooks_by_event(receiver)
    # A message sent twice is one a worker died sending, and the log says so.
    for booking in booked:
        log = chaos.get("/v1/notifications", key="partner", params={"booking": booking})
        flagged = {e["channel"] for e in log.json()["items"] if e.get("possible_duplicate")}
        assert seen[("booking.created", booking)] == 1 or "webhook" in flagged
        repeated = [n for (b, _), n in emails.items() if b == booking and n > 1]
        assert not repeated or "email" in flagged


HEADERS_TRICKLE = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n")
# A body the client sends a byte at a time: once told to continue, or unasked.
BODY_TRICKLES = [
    (b"POST /v1/bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     + expect + b"Content-Length: 1000\r\n\r\n", b" ")
    for expect in (b"Expect: 100-continue\r\n", b"")]


def trickle(address: tuple[str, int], stop: threading.Event, opening: bytes,
            piece: bytes) -> None:
    """A client that sends `opening`, then `piece` every 2 s, never finishing."""
    with socket.create_connection(address) as conn:
        conn.sendall(opening)
        while not stop.wait(2.0):
            try:
                conn.sendall(piece)
            except OSError:
                return


def test_slow_clients_do_not_starve_normal_requests(chaos):
    """100 idle connections, 100 trickling their headers and 50 trickling a body, to
    the gateway and to a service behind it at once; normal requests keep their p99
    under a second."""
    gateway = ("127.0.0.1", int(chaos.base_url.rsplit(":", 1)[1]))
    booking = ("127.0.0.1", int(chaos.env["SPA_BOOKING_PORT"]))
    stop, idle = threading.Event(), []
    for address in (gateway, booking):
        idle += [socket.create_connection(address) for _ in range(100)]
        trickles = [HEADERS_TRICKLE] * 100 + BODY_TRICKLES * 25
        for opening, piece in trickles:
            threading.Thread(target=trickle, args=(address, stop, opening, piece),
                             daemon=True).start()
    try:
        time.sleep(1.0)  # every slow connection is open
        latencies = []
        for n in range(60):
            started = time.monotonic()
            url = (chaos.base_url + "/v1/studios" if n % 2 else
                   f"http://{booking[0]}:{booking[1]}/v1/bookings?limit=1")
            response = requests.get(url, timeout=30, headers={
                "Authorization": f"Bearer {chaos.partner_key}"})
            assert response.status_code == 200, response.text
            latencies.append(time.monotonic() - started)
    finally:
        stop.set()
        for conn in idle:
            conn.close()
    p99 = sorted(latencies)[int(0.99 * len(latencies))]
    print(f"\nslow clients: p50 {sorted(latencies)[30] * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")
    assert p99 < 1.0
