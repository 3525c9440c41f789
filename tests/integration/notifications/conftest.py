"""The notifications worker in a thread against the session's real Redis broker, a
real SMTP server and real webhook receivers; its clock is one the test can advance."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.service import Infra
from services.notifications.app import create_app
from services.notifications.bootstrap import Context, bootstrap
from tests.helpers import ManualClock
from tests.integration.notifications.support import Api, notifications_worker


@pytest.fixture
def clock() -> ManualClock:
    """Real time plus an offset: advancing it a day makes tomorrow's reminders due."""
    return ManualClock()


@pytest.fixture
def notifications_settings(settings, smtp_server):
    return replace(settings, smtp_url=smtp_server.url)


@pytest.fixture
def ctx(notifications_settings, clock) -> Context:
    return bootstrap(Infra.from_settings(notifications_settings), clock)


@pytest.fixture
def worker(ctx):
    with notifications_worker(ctx) as running:
        yield running


@pytest.fixture
def api(notifications_settings, api_keys) -> Api:
    app = create_app({"redis_url": notifications_settings.redis_url,
                      "broker_url": notifications_settings.broker_url,
                      "smtp_url": notifications_settings.smtp_url,
                      "data_dir": notifications_settings.data_dir,
                      "webhook_allow_private": True})
    return Api(app.test_client(), api_keys)
