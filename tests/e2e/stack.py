"""The running product as e2e tests drive it: its base URL and keys, its processes
(started, stopped and killed by tests), and the settings it runs with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from services.cli import COMPOSITION, SERVICES
from services.common.config import load_settings
from services.common.devstack import ROOT, process_commands
from services.common.redis import connect, free_port
from tests.helpers import wait_for

STARTED_BY_TESTS = ("notifications-worker", "booking-worker")


LONDON = ZoneInfo("Europe/London")


class Days:
    """Future days at the London studios, each handed to one caller: tests that book
    never share a day's ledger. They lie from the day after tomorrow (clear of any
    minimum notice) to within the city's booking horizon."""

    def __init__(self, first: int = 2, last: int = 58):
        today = datetime.now(LONDON).date()
        self.free = [today + timedelta(days=n) for n in range(first, last + 1)]
        self.lock = threading.Lock()

    def take(self, weekdays: Container[int] | None = None) -> str:
        """A day of its own (on one of `weekdays`, 0 = Monday, when given), YYYY-MM-DD."""
        with self.lock:
            day = next(d for d in self.free if weekdays is None or d.weekday() in weekdays)
            self.free.remove(day)
        return day.isoformat()


def london_instant(day: str, clock: str) -> str:
    """The UTC instant of a London wall-clock time, as the API writes it."""
    local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LONDON)
    return local.astimezone(UTC).isoformat()


@dataclass
class Stack:
    base_url: str
    admin_key: str
    partner_key: str
    studios: list[str]
    redis_url: str
    env: dict[str, str]
    data_dir: Path
    smtp: object
    launcher: subprocess.Popen
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    days: Days = field(default_factory=Days)
    replicas: int = 1  # of each app and worker (`spa dev --replicas`)

    def day(self, weekdays: Container[int] | None = None) -> str:
        return self.days.take(weekdays)

    def workday(self) -> str:
        """A Monday to Friday: ashiatsu at camden from 08:00 to 21:00 (maya, then jonas)."""
        return self.days.take(range(5))

    def request(self, method: str, path: str, key: str | None = "admin", **kwargs):
        headers = kwargs.pop("headers", {})
        api_key = {"admin": self.admin_key, "partner": self.partner_key}.get(key, key)
        if api_key:
            headers.setdefault("Authorization", f"Bearer {api_key}")
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.base_url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def redis(self):
        return connect(self.redis_url)

    @property
    def broker_url(self) -> str:
        """The stack's broker: RabbitMQ beside a cluster, else its Redis."""
        return self.env.get("SPA_BROKER_URL") or self.redis_url

    def spa(self, *args: str) -> str:
        """Run the `spa` command against the stack, as an operator would; its stdout."""
        result = subprocess.run([sys.executable, "-m", "services.cli", *args], env=self.env,
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_process(self, name: str) -> subprocess.Popen:
        """Start one of the stack's processes (same command and env as `spa dev`);
        with replicas, `<name>.2` and so on are the others of `name`."""
        settings = load_settings_from(self.env)
        command = process_commands(settings, SERVICES, COMPOSITION.pages, self.replicas)[name]
        process = subprocess.Popen(command.split(), env=self.env, cwd=ROOT,
                                   start_new_session=True)
        self.workers[name] = process
        return process

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.workers.pop(name)
        process.send_signal(sig)
        process.wait(timeout=20)


def load_settings_from(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stack_env(data_dir: Path, smtp_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPA_")}
    env.update({
        "SPA_DATA_DIR": str(data_dir), "SPA_SMTP_URL": smtp_url,
        "SPA_GATEWAY_PORT": str(free_port()), "SPA_BOOKING_PORT": str(free_port()),
        "SPA_AVAILABILITY_PORT": str(free_port()),
        "SPA_NOTIFICATIONS_PORT": str(free_port()), "SPA_DESK_PORT": str(free_port()),
        "SPA_BUS_RETRY_DELAYS_S": "0.2,0.4", "SPA_WEBHOOK_RETRY_DELAYS_S": "0.2,0.4",
        "SPA_WEBHOOK_ALLOW_PRIVATE": "1", "SPA_RATE_LIMIT_PER_MINUTE": "100000",
        "SPA_ADDRESS_RATE_LIMIT_PER_MINUTE": "100000",
        # a killed worker's unfinished event runs again within seconds, not minutes
        "SPA_BUS_VISIBILITY_TIMEOUT_S": "5", "SPA_BUS_HANDLER_LEASE_S": "10",
        # A worker killed mid-send leaves its delivery leased for twice the longer of these.
        "SPA_SMTP_TIMEOUT_S": "3", "SPA_WEBHOOK_TIMEOUT_S": "3",
        "SPA_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
    })
    return env


def wait_until_up(launcher, data_dir: Path, env: dict, smtp) -> Stack:
    dev_json = data_dir / "dev.json"

    def up():
        if launcher.poll() is not None:
            raise AssertionError(f"spa dev exited; see {data_dir.parent / 'stack.log'}")
        if not dev_json.exists():
            return None
        info = json.loads(dev_json.read_text())
        try:
            ready = requests.get(info["base_url"] + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return None
        return info if ready else None

    info = wait_for(up, timeout_s=60, interval_s=0.2, what="the stack to be ready")
    env = {**env, "SPA_REDIS_URL": info["redis_url"],
           "SPA_DATA_KEY": (data_dir / "data.key").read_text().strip()}
    return Stack(info["base_url"], info["admin_key"], info["partner_key"], info["studios"],
                 info["redis_url"], env, data_dir, smtp, launcher)


@contextmanager
def running_stack(root: Path, smtp, extra_env: dict[str, str] | None = None,
                  started_by_tests: tuple[str, ...] = STARTED_BY_TESTS,
                  replicas: int = 1) -> Iterator[Stack]:
    """`spa dev` in `root`, up and ready; the processes in `started_by_tests` are left
    out of it and started here, so that tests can stop, kill and start them.
    `replicas` of each app and worker (those started here: `<name>`, `<name>.2`...)."""
    data_dir = root / ".spa"
    env = {**stack_env(data_dir, smtp.url), **(extra_env or {})}
    log = open(root / "stack.log", "w")  # noqa: SIM115 - closed by shutdown
    without = [arg for name in started_by_tests for arg in ("--without", name)]
    launcher = subprocess.Popen([sys.executable, "-m", "services.cli", "dev", *without,
                                 "--replicas", str(replicas)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        running = wait_until_up(launcher, data_dir, env, smtp)
        running.replicas = replicas
        for name in started_by_tests:
            for n in range(1, replicas + 1):
                running.start_process(name if n == 1 else f"{name}.{n}")
        yield running
        for name in list(running.workers):
            running.stop_process(name)
    finally:
        shutdown(launcher, log)


def shutdown(launcher: subprocess.Popen, log) -> None:
    launcher.send_signal(signal.SIGINT)
    try:
        launcher.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
    log.close()
