"""`spa dev --replicas N`: the processes it starts, and the Redis and broker it uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common import devstack
from services.common.config import Settings
from services.common.devstack import Composition, process_commands, replica_of

SERVICES = ("booking", "availability")


def test_one_replica_keeps_the_names_and_commands_of_before():
    commands = process_commands(Settings(), SERVICES, ("desk",))
    assert set(commands) == {"booking-web", "availability-web", "booking-worker",
                             "availability-worker", "desk-web", "gateway"}
    assert not any("--reuse-port" in command for command in commands.values())


def test_replicas_of_every_app_and_worker_share_the_apps_ports():
    commands = process_commands(Settings(), SERVICES, ("desk",), replicas=3)
    assert len(commands) == 6 * 3
    assert commands["booking-worker.3"] == commands["booking-worker"]
    web = [c for name, c in commands.items() if replica_of(name) == "booking-web"]
    assert len(web) == 3
    assert all("--bind 127.0.0.1:8001 --reuse-port" in command for command in web)
    assert replica_of("gateway.2") == "gateway" and replica_of("gateway") == "gateway"


@pytest.mark.parametrize("env, embedded", [
    ({}, True),
    ({"SPA_REDIS_URL": "redis://10.0.0.5:6379/0",
      "SPA_BROKER_URL": "amqp://guest:guest@10.0.0.6:5672//"}, False),
])
def test_the_stack_starts_redis_only_when_none_is_named(monkeypatch, tmp_path, env, embedded):
    for name in ("SPA_REDIS_URL", "SPA_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    started, ran = [], []

    class FakeRedis:
        def __init__(self, data_dir: Path):
            started.append(data_dir)

        def start(self) -> str:
            return "redis://127.0.0.1:7777/0"

        def stop(self) -> None:
            pass

    monkeypatch.setattr(devstack, "EmbeddedRedis", FakeRedis)
    monkeypatch.setattr(devstack, "_run_stack",
                        lambda settings, *args: ran.append((settings, args)) or 0)
    settings = Settings(redis_url=env.get("SPA_REDIS_URL", Settings().redis_url),
                        broker_url=env.get("SPA_BROKER_URL", ""), data_dir=tmp_path,
                        data_key="k")
    composition = Composition((), (), lambda infra, path: [], lambda infra: [])
    assert devstack.run_dev(settings, composition, tmp_path / "city.yaml", set(), 2) == 0
    [(used, args)] = ran
    assert bool(started) is embedded
    assert args[-1] == 2  # the replicas
    if embedded:
        assert used.redis_url == used.broker == "redis://127.0.0.1:7777/0"
    else:
        assert (used.redis_url, used.broker) == (env["SPA_REDIS_URL"], env["SPA_BROKER_URL"])
