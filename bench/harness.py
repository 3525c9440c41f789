"""Benchmark plumbing: a private Redis, processes under the project's own gunicorn
settings, and a closed-loop load generator. Every figure `make bench` prints is a
ratio against the bare Flask baseline measured in the same run, so the machine's
speed cancels out."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import requests

from services.common.auth import KeyStore
from services.common.redis import EmbeddedRedis, connect, free_port
from services.common.vault import new_key

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Stats:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def row(name: str, stats: Stats | None = None, baseline: Stats | None = None,
        target: str = "", **values) -> dict:
    """One line of the report; ratio = this rps / baseline rps."""
    out = {"name": name, "target": target, **values}
    if stats is not None:
        out.update(rps=round(stats.rps, 1), p50_ms=round(stats.p50, 2),
                   p99_ms=round(stats.p99, 2), errors=_errors(stats))
    if stats is not None and baseline is not None:
        out["ratio"] = round(stats.rps / baseline.rps, 3)
    out["met"] = verdict(out)
    return out


CHECKS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


def verdict(values: dict) -> str:
    """`met` or `missed` for a target such as `ratio >= 0.2` or `p99_ms < 500` (clauses
    joined by `and`), judged on the row's own figures; empty without a target."""
    clauses = [c.split() for c in values.get("target", "").split(" and ") if c.strip()]
    if not clauses:
        return ""
    met = all(CHECKS[op](float(values[name]), float(limit)) for name, op, limit in clauses)
    return "met" if met else "missed"


def _errors(stats: Stats) -> int:
    return sum(n for status, n in stats.statuses.items() if status >= 500 or status == 0)


def _client(args) -> tuple[list[float], dict[int, int], float, float]:
    base_url, plan, count, offset = args
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    latencies, statuses = [], {}
    started = time.perf_counter()
    for i in range(count):
        request = plan[(offset + i) % len(plan)]
        status, elapsed = _send(connection, request)
        latencies.append(elapsed)
        statuses[status] = statuses.get(status, 0) + 1
    return latencies, statuses, started, time.perf_counter()


def _send(connection: http.client.HTTPConnection, request: Request) -> tuple[int, float]:
    body = json.dumps(request.body) if request.body is not None else None
    headers = {"Content-Type": "application/json", **request.headers}
    start = time.perf_counter()
    try:
        connection.request(request.method, request.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        connection.close()
        status = 0
    return status, (time.perf_counter() - start) * 1000


def load(base_url: str, plan: list[Request], total: int, concurrency: int = 8) -> Stats:
    """Send `total` requests from `concurrency` processes (each one keep-alive
    connection, one request at a time), cycling through `plan`."""
    share = max(1, total // concurrency)
    jobs = [(base_url, plan, share, i * share) for i in range(concurrency)]
    with multiprocessing.get_context("fork").Pool(concurrency) as pool:
        results = pool.map(_client, jobs)
    latencies = [ms for result in results for ms in result[0]]
    statuses: dict[int, int] = {}
    for result in results:
        for status, n in result[1].items():
            statuses[status] = statuses.get(status, 0) + n
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    return Stats(len(latencies), seconds, latencies, statuses)


def open_windows(catalog_doc: dict) -> dict:
    """A city document whose studios take bookings from now to two years ahead: the
    benchmarks book far more than the demo's 60 days hold (they share one Redis, so
    whichever stores its catalog first must suit them all)."""
    for studio in catalog_doc["studios"]:
        studio["booking_window"] = {"min_notice_min": 0, "max_advance_days": 730}
    return catalog_doc


class WebhookEndpoint:
    """A partner's endpoint that notes when each webhook arrived, under `key_of(headers,
    body)` (the first arrival of each key counts)."""

    def __init__(self, key_of: Callable[[Message, dict], str]) -> None:
        self.arrived: dict[str, float] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler(key_of))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def _handler(self, key_of: Callable[[Message, dict], str]):
        arrived = self.arrived

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as partners' servers do

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                arrived.setdefault(key_of(self.headers, body), time.perf_counter())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler


class BenchEnv:
    """A private Redis and the processes a benchmark starts against it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis_server = EmbeddedRedis(workdir / "redis", fsync="no")
        self.processes: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}
        self.admin_key = ""

    def start(self) -> BenchEnv:
        url = self.redis_server.start()
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("SPA_")},
                    "SPA_REDIS_URL": url, "SPA_DATA_DIR": str(self.workdir / "spa"),
                    "SPA_LOG_LEVEL": "WARNING", "SPA_RATE_LIMIT_PER_MINUTE": "100000000",
                    "SPA_ADDRESS_RATE_LIMIT_PER_MINUTE": "100000000",
                    "SPA_WEBHOOK_ALLOW_PRIVATE": "1", "SPA_DATA_KEY": new_key()}
        self.admin_key = KeyStore(connect(url), "london").create("bench", "admin")
        return self

    @property
    def redis_url(self) -> str:
        return self.env["SPA_REDIS_URL"]

    def auth(self, api_key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key or self.admin_key}"}

    def spawn(self, command: list[str], extra_env: dict | None = None) -> subprocess.Popen:
        process = subprocess.Popen(command, env={**self.env, **(extra_env or {})}, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def worker(self, service: str, extra_env: dict | None = None) -> subprocess.Popen:
        return self.spawn([sys.executable, "-m", f"services.{service}.worker"], extra_env)

    def serve(self, app: str, extra_env: dict | None = None) -> str:
        """Start `app` (a wsgi path) under deploy/gunicorn.conf.py; returns its base URL."""
        port = free_port()
        self.spawn([str(Path(sys.executable).parent / "gunicorn"), "-c", str(GUNICORN_CONF),
                    "--bind", f"127.0.0.1:{port}", app], extra_env)
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url)
        return base_url

    def stop_process(self, process: subprocess.Popen) -> None:
        _terminate(process)
        self.processes.remove(process)

    def stop(self) -> None:
        for process in self.processes:
            _terminate(process)
        self.redis_server.stop()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and everything it started (gunicorn's workers)."""
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kb += next(int(line.split()[1]) for line in status.splitlines()
                         if line.startswith("VmRSS:"))
        pending += [int(child) for child in children]
    return round(total_kb / 1024, 1)


def _wait_healthy(base_url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(base_url + "/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base_url} did not come up")


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def bench_env() -> Iterator[BenchEnv]:
    with tempfile.TemporaryDirectory(prefix="spa-bench-") as workdir:
        env = BenchEnv(Path(workdir)).start()
        try:
            yield env
        finally:
            env.stop()
