"""The deployment files point at code that exists and keep Redis durable."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.vault import new_key

ROOT = Path(__file__).resolve().parents[3]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_compose_process_runs_a_module_that_exists():
    for name, service in compose()["services"].items():
        command = service.get("command") or []
        modules = [part.split(":")[0] for part in command if part.startswith("services.")]
        for module in modules:
            assert importlib.util.find_spec(module), f"{name}: no module {module}"


def test_compose_has_one_city_of_processes():
    names = set(compose()["services"])
    assert {"redis", "availability", "booking", "notifications", "availability-worker",
            "booking-worker", "notifications-worker", "gateway"} <= names


def test_production_redis_fsyncs_every_write():
    conf = (ROOT / "deploy" / "redis.conf").read_text()
    assert "appendonly yes" in conf and "appendfsync always" in conf


def test_docker_compose_accepts_the_file_where_it_is_installed():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {**os.environ, "SPA_DATA_KEY": new_key()}
    result = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_a_city_without_a_data_key():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {k: v for k, v in os.environ.items() if k != "SPA_DATA_KEY"}
    result = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env=env)
    assert result.returncode != 0 and "SPA_DATA_KEY" in result.stderr


def test_every_file_compose_mounts_exists():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
