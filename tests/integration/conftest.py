"""Fixtures of the integration tests that need more than the session's store."""

from __future__ import annotations

import pytest

from tests.cluster import RabbitVhost, rabbitmq_reason


@pytest.fixture(scope="session")
def rabbitmq_url():
    """The machine's RabbitMQ, on a vhost of this session's own, deleted at the end;
    where RabbitMQ is not usable the test is skipped, saying why."""
    if reason := rabbitmq_reason():
        pytest.skip(f"needs RabbitMQ on 127.0.0.1:5672: {reason}")
    vhost = RabbitVhost().create()
    yield vhost.url
    vhost.delete()
