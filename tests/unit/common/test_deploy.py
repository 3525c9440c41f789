"""The deployment files point at code that exists and keep Redis durable; the scaled
variant (docker-compose.scale.yml) runs the same processes twice on a Redis Cluster
and RabbitMQ."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.config import Settings
from services.common.redis import seed_nodes
from services.common.vault import new_key

ROOT = Path(__file__).resolve().parents[3]
SINGLE, SCALE = "docker-compose.yml", "docker-compose.scale.yml"
FILES = pytest.mark.parametrize("file", [SINGLE, SCALE])


def compose(file: str = SINGLE) -> dict:
    return yaml.safe_load((ROOT / file).read_text())


@FILES
def test_every_compose_process_runs_a_module_that_exists(file):
    for name, service in compose(file)["services"].items():
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


@FILES
def test_docker_compose_accepts_the_file_where_it_is_installed(file):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {**os.environ, "SPA_DATA_KEY": new_key(), "SPA_RABBITMQ_PASSWORD": "s3cret"}
    result = subprocess.run([binary, "-f", file, "config", "-q"], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_a_city_without_a_data_key():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {k: v for k, v in os.environ.items() if k != "SPA_DATA_KEY"}
    result = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env=env)
    assert result.returncode != 0 and "SPA_DATA_KEY" in result.stderr


@FILES
def test_every_file_compose_mounts_exists(file):
    for name, service in compose(file)["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_the_scaled_city_runs_every_process_of_the_single_one_twice():
    single, scale = compose(SINGLE)["services"], compose(SCALE)["services"]
    for name, service in single.items():
        if name == "redis":
            continue  # the cluster's nodes stand for it
        for field in ("image", "command", "volumes"):
            assert scale[name].get(field) == service.get(field), (name, field)
        replicas = (scale[name].get("deploy") or {}).get("replicas", 1)
        assert replicas == (1 if name in ("init", "gateway") else 2), name


def test_the_scaled_city_stores_on_a_six_node_cluster_with_rabbitmq_as_its_broker():
    services = compose(SCALE)["services"]
    env = services["booking-worker"]["environment"]
    Settings(redis_url=env["SPA_REDIS_URL"], broker_url=env["SPA_BROKER_URL"]).check()
    nodes = [node.host for node in seed_nodes(env["SPA_REDIS_URL"])]
    assert nodes == [f"redis-{n}" for n in range(1, 7)]
    conf = (ROOT / "deploy" / "redis-cluster.conf").read_text()
    assert "cluster-enabled yes" in conf and "include /usr/local/etc/redis/redis.conf" in conf
    for name in nodes:
        assert services[name]["image"] == "redis:7"
        assert services[name]["command"][:2] == ["redis-server",
                                                 "/usr/local/etc/redis/redis-cluster.conf"]
    create = services["redis-cluster"]
    assert set(create["depends_on"]) == set(nodes) and create["restart"] == "no"
    script = (ROOT / "deploy" / "redis-cluster-create.sh").read_text()
    assert "--cluster-replicas 1 --cluster-yes" in script  # six nodes: 3 masters, 3 replicas
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3")
    assert services["init"]["depends_on"] == {
        "redis-cluster": {"condition": "service_completed_successfully"},
        "rabbitmq": {"condition": "service_healthy"}}


def test_the_cluster_create_script_is_valid_sh():
    result = subprocess.run(["sh", "-n", str(ROOT / "deploy" / "redis-cluster-create.sh")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_a_scaled_city_without_a_broker_password():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {**{k: v for k, v in os.environ.items() if k != "SPA_RABBITMQ_PASSWORD"},
           "SPA_DATA_KEY": new_key()}
    result = subprocess.run([binary, "-f", SCALE, "config", "-q"], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "SPA_RABBITMQ_PASSWORD" in result.stderr
