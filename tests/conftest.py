"""Fixtures shared by every layer: a private real Redis per session, settings,
and app -> client -> auth chained like the Flask tutorial's."""

from __future__ import annotations

import pytest

from services.common.auth import KeyStore
from services.common.config import Settings
from services.common.redis import EmbeddedRedis, connect
from services.common.vault import new_key


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """A clean database for each test."""
    client = connect(redis_server.url)
    client.flushdb()
    yield redis_server.url
    client.close()


@pytest.fixture
def redis_client(redis_url):
    return connect(redis_url)


DATA_KEY = new_key()  # one per session: what tests seal, they can open


@pytest.fixture
def settings(redis_url, tmp_path) -> Settings:
    return Settings(redis_url=redis_url, city="london", data_dir=tmp_path / "spa",
                    data_key=DATA_KEY, bus_retry_delays_s=(0.05, 0.1), rpc_timeout_s=2.0,
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
