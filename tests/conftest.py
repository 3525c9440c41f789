"""Fixtures shared by every layer: the store a test runs on (a private real Redis,
and a 6-node Redis Cluster with RabbitMQ: every test that asks for the store runs on
both), settings, and app -> client -> auth chained like the Flask tutorial's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.common.auth import KeyStore
from services.common.config import Settings
from services.common.redis import EmbeddedRedis, connect
from services.common.vault import new_key
from tests.cluster import LocalCluster, RabbitVhost, purge_queues, rabbitmq_reason


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Store:
    """Where a test's data and messages go."""

    kind: str  # "redis": one Redis, also the broker; "cluster": Redis Cluster + RabbitMQ
    url: str
    broker_url: str = ""  # empty: the Redis URL
    cluster: LocalCluster | None = None


@pytest.fixture(scope="session", params=["redis", "cluster"])
def store(request, redis_server, tmp_path_factory):
    if request.param == "redis":
        yield Store("redis", redis_server.url)
        return
    if reason := rabbitmq_reason():
        pytest.skip(f"the Redis Cluster + RabbitMQ half needs RabbitMQ: {reason}")
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    vhost = RabbitVhost().create()
    try:
        yield Store("cluster", cluster.url, vhost.url, cluster)
    finally:
        vhost.delete()
        cluster.stop()


@pytest.fixture
def one_redis(store) -> Store:
    """For a test about one Redis server itself (killing it, MONITOR on it): it runs
    on the single Redis only; the cluster's own failures have their own tests."""
    if store.kind != "redis":
        pytest.skip("about a single Redis server; the cluster half has its own tests")
    return store


@pytest.fixture
def redis_url(store):
    """A clean store (and broker) for each test."""
    client = connect(store.url)
    client.flushdb()
    if store.broker_url:
        purge_queues(store.broker_url)
    yield store.url
    client.close()


@pytest.fixture
def redis_client(redis_url):
    return connect(redis_url)


DATA_KEY = new_key()  # one per session: what tests seal, they can open


@pytest.fixture
def settings(redis_url, store, tmp_path) -> Settings:
    return Settings(redis_url=redis_url, broker_url=store.broker_url, city="london",
                    data_dir=tmp_path / "spa", data_key=DATA_KEY,
                    bus_retry_delays_s=(0.05, 0.1), rpc_timeout_s=2.0,
                    webhook_retry_delays_s=(0.05, 0.1), webhook_allow_private=True)


@pytest.fixture
def api_keys(redis_client, settings) -> dict[str, str]:
    keys = KeyStore(redis_client, settings.city)
    return {
        "admin": keys.create("test admin", "admin"),
        "partner": keys.create("camden partner", "partner", ["camden"]),
        "other_partner": keys.create("other partner", "partner", ["islington"]),
    }


@pytest.fixture(scope="session")
def smtp_server():
    from tests.helpers import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver():
    from tests.helpers import WebhookReceiver

    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
