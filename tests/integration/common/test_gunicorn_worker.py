"""The worker every app runs under (services/common/gunicorn_worker.py), in a real
gunicorn with two threads: clients slow in any part of their request (headers, a
body after `Expect: 100-continue`, a chunked body, a request pipelined behind
another) hold no thread, and are answered 408 once their 10 s are up."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from services.common.gunicorn_worker import REQUEST_TIMEOUT_S, Arrival
from services.common.redis import free_port
from tests.helpers import assert_problem, wait_for

ROOT = Path(__file__).resolve().parents[3]
WORKER = "services.common.gunicorn_worker.BufferingThreadWorker"
THREADS = 2
TRICKLE_S = 0.5  # a slow client sends its next piece after this long without an answer


def echo(environ: dict, start_response):
    """Reads the whole body, as the gateway's hop does, and says how much it got."""
    stream, length = environ["wsgi.input"], environ.get("CONTENT_LENGTH")
    body = stream.read(int(length)) if length else stream.read()
    answer = json.dumps({"path": environ["PATH_INFO"], "received": len(body)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture(scope="module")
def port():
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--worker-class", WORKER,
         "--workers", "1", "--threads", str(THREADS), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", f"{__name__}:echo"], cwd=ROOT)

    def answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(answers, timeout_s=20, what="gunicorn")
    yield port
    server.terminate()
    server.wait(timeout=15)


@dataclass
class Slow:
    """A client that sends `opening`, then `trickle` whenever the server has said
    nothing for TRICKLE_S: everything it was answered, and when the server closed."""

    opening: bytes
    trickle: bytes = b"x"
    answer: bytes = b""
    closed_after_s: float = 0.0

    def run(self, port: int) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(self.opening)
            conn.settimeout(TRICKLE_S)
            while time.monotonic() - started < 2 * REQUEST_TIMEOUT_S:
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    try:
                        conn.sendall(self.trickle)
                        continue
                    except OSError:
                        break
                except OSError:
                    break
                if not chunk:
                    break
                self.answer += chunk
        self.closed_after_s = time.monotonic() - started


def post(headers: str) -> bytes:
    return f"POST /echo HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()


def test_slow_bodies_hold_no_thread_and_get_a_408_after_10_s(port):
    """Four slow clients of each kind for each of the two threads: normal requests
    keep p99 under a second, and each slow one is answered 408 at its deadline."""
    kinds = {
        "expect": lambda: Slow(post("Expect: 100-continue\r\nContent-Length: 1000\r\n")),
        "length": lambda: Slow(post("Content-Length: 1000\r\n")),
        "chunked": lambda: Slow(post("Transfer-Encoding: chunked\r\n"), b"1\r\nx\r\n"),
        "pipelined": lambda: Slow(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                                  + post("Content-Length: 1000\r\n")),
        "headers": lambda: Slow(b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n"),
    }
    slow = {(kind, n): make() for kind, make in kinds.items() for n in range(4 * THREADS)}
    threads = [threading.Thread(target=s.run, args=(port,), daemon=True)
               for s in slow.values()]
    for thread in threads:
        thread.start()
    time.sleep(2 * TRICKLE_S)  # every slow client has sent something, some twice
    latencies = []
    for _ in range(40):
        started = time.monotonic()
        try:
            ok = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        except requests.RequestException:
            ok = False
        latencies.append(time.monotonic() - started if ok else float("inf"))
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=3 * REQUEST_TIMEOUT_S)
    p99 = sorted(latencies)[int(0.99 * len(latencies))]
    print(f"\nslow bodies: p99 {p99 * 1000:.1f} ms of normal requests beside "
          f"{len(slow)} slow clients on {THREADS} threads")
    assert p99 < 1.0

    for (kind, _), client in slow.items():
        answer = client.answer
        if kind == "expect":  # told to go on by the worker's loop, once
            assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), answer[:200]
            answer = answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
        if kind == "pipelined":  # the whole first request is answered at once
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            answer = answer[answer.index(b"HTTP/1.1", 1):]
        assert b"100 Continue" not in answer, (kind, answer[:200])
        assert answer.startswith(b"HTTP/1.1 408"), (kind, answer[:200])
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"application/problem+json" in head
        assert json.loads(body)["code"] == "request_timeout"
        assert REQUEST_TIMEOUT_S - 1 < client.closed_after_s < REQUEST_TIMEOUT_S + 3, (
            kind, client.closed_after_s)


def exchange(port: int, *pieces: bytes, pause_s: float = 0.05) -> bytes:
    """Send the pieces a little apart, then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(pause_s)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    return answer


def test_expect_continue_is_answered_once_and_the_body_then_read(port):
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        conn.sendall(post("Expect: 100-continue\r\nContent-Length: 11\r\n"
                          "Connection: close\r\n"))
        assert conn.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(b"hello world")
        answer = b""
        while chunk := conn.recv(4096):  # gunicorn may write head and body apart
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b"100 Continue" not in answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["received"] == 11


def test_a_chunked_body_trickled_in_arrives_whole(port):
    answer = exchange(port, post("Transfer-Encoding: chunked\r\nConnection: close\r\n"),
                      b"5\r\nhel", b"lo\r\n", b"6;ext=1\r\n world\r\n0\r\n", b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["received"] == 11


@pytest.mark.parametrize("headers", ["Content-Length: 70000\r\n",
                                     "Expect: 100-continue\r\nContent-Length: 70000\r\n"])
def test_a_declared_body_over_64_kb_is_a_413_before_any_of_it_is_read(port, headers):
    answer = exchange(port, post(headers))
    assert answer.startswith(b"HTTP/1.1 413") and b"100 Continue" not in answer, answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "payload_too_large"


def test_a_body_over_64_kb_sent_whole_is_a_413_problem_the_client_reads(port):
    response = requests.post(f"http://127.0.0.1:{port}/echo", data=b"x" * 70_000,
                             timeout=5)
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize("received, state", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n", None),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "whole"),
    (post("Content-Length: 3\r\n") + b"ab", None),
    (post("Content-Length: 3\r\n") + b"abc", "whole"),
    (post("Expect: 100-continue\r\nContent-Length: 3\r\n"), "continue"),
    (post("Expect: 100-continue\r\nContent-Length: 3\r\n") + b"abc", "whole"),
    (post("Content-Length: 65537\r\n"), "payload_too_large"),
    (post("Transfer-Encoding: chunked\r\n") + b"5\r\nab0\r\n\r\n", None),
    (post("Transfer-Encoding: chunked\r\n") + b"3\r\nabc\r\n0\r\n\r\n", "whole"),
    (post("Transfer-Encoding: chunked\r\n") + b"3\r\nabc\r\n0\r\nX-T: 1\r\n", None),
    (post("Transfer-Encoding: chunked\r\n") + b"zz\r\n", "bad_request"),
    (post("Transfer-Encoding: chunked\r\n") + b"3\r\nabcd\r\n", "bad_request"),
    (post("Transfer-Encoding: chunked\r\n") + b"1\r\nx\r\n" * 11_000, "payload_too_large"),
])
def test_the_state_of_a_request_as_it_arrives(received, state):
    assert Arrival(0.0, received).state() == state
