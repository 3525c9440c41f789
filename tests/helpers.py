"""Test helpers shared by every layer: deadline polling, a clock tests move on, API
key headers and problem+json checks, and real peers (an SMTP server and an HTTP
webhook receiver) that the product talks to."""

from __future__ import annotations

import contextlib
import email
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from aiosmtpd.controller import Controller

from services.common import bus
from services.common.clock import Clock
from services.common.redis import free_port

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout_s: float = 10.0, interval_s: float = 0.05,
             what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def assert_problem(response, status: int, code: str) -> dict:
    """An RFC 9457 answer with this status and code (a Flask test or requests response)."""
    body = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    assert response.status_code == status, body
    assert response.headers["Content-Type"].startswith("application/problem+json"), body
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (status, code), problem
    return problem


class ManualClock(Clock):
    """The services' Clock, as tests drive it: fixed at `at` (or real time when None),
    plus however far the test has moved it on."""

    def __init__(self, at: datetime | None = None):
        self.at = at
        self.offset = timedelta()

    @classmethod
    def flowing_from(cls, moment: datetime) -> ManualClock:
        """Real time, as if it had been `moment` when the test began: it runs on, so
        deadlines fall due as they would, on the dates the test books."""
        clock = cls()
        clock.offset = moment - datetime.now(UTC)
        return clock

    def now(self) -> datetime:
        return (self.at or datetime.now(UTC)) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def reset(self) -> None:
        self.offset = timedelta()


class _Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""

    port: int = field(default_factory=free_port)
    controller: Controller | None = None
    collector: _Collector = field(default_factory=_Collector)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[email.message.Message]:
        with self.collector.lock:
            return list(self.collector.messages)

    def start(self) -> SmtpServer:
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """A real HTTP endpoint. `fail_first` requests answer 500, the rest 204."""

    def __init__(self, fail_first: int = 0):
        self.received: list[Received] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    failing = len(receiver.received) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_worker(connection, consumers=(), rpc_servers=(), periodic=(),
                   safety_interval_s: float = 0.05) -> Iterator[bus.Worker]:
    """A worker process's loop (services/common/bus.Worker), in a thread of the test:
    declares its queues first, stops and joins on exit."""
    bus.declare(connection, [c.queue for c in consumers] + [s.queue for s in rpc_servers])
    worker = bus.Worker(connection, list(consumers), list(rpc_servers), list(periodic))
    thread = threading.Thread(target=worker.run, daemon=True,
                              kwargs={"safety_interval": safety_interval_s})
    thread.start()
    try:
        yield worker
    finally:
        worker.should_stop = True
        thread.join(timeout=10)


class TcpProxy:
    """A TCP proxy in front of `target_port`, standing for the network between the
    services and a dependency: `cut()` drops every connection and refuses new ones,
    `restore()` accepts again on the same port."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> TcpProxy:
        self.listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return  # cut
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            self.listener.close()
            for end in self.sockets:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                    end.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.start()

    stop = cut


class SilentProxy:
    """A TCP proxy in front of `target_port` for a node that goes away without a word:
    after `silent.set()` its connections stay open and carry nothing (power lost, a
    partition); `close()` drops them and refuses new ones (the node is gone)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.silent = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return  # closed
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.silent.is_set():
                    sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        # shutdown first: a close alone leaves a thread blocked in accept() accepting
        for end in (self.listener, *self.sockets):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def race(work: Callable[[int], None], replicas: int = 2) -> None:
    """Run `work(replica)` in `replicas` threads released at once: replicas of a
    worker racing for the same items."""
    start = threading.Barrier(replicas)

    def run(replica: int) -> None:
        start.wait()
        work(replica)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
