"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from services.common.config import Settings
from services.common.service import Infra
from services.notifications.mail import Mailer, mailer_for
from services.notifications.store import NotificationStore
from services.notifications.webhooks import webhook_session


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    infra: Infra
    store: NotificationStore
    mailer: Mailer
    # Keep-alive connections to partner endpoints (webhooks.webhook_session); used by
    # the worker's one thread.
    http: requests.Session
    # The clock reminders and retries are scheduled by; tests pass one they can advance.
    now: Callable[[], datetime] = utc_now

    @property
    def settings(self) -> Settings:
        return self.infra.settings


def bootstrap(infra: Infra, now: Callable[[], datetime] = utc_now) -> Context:
    store = NotificationStore(infra.redis, infra.settings.city)
    http = webhook_session(infra.settings.webhook_allow_private)
    return Context(infra, store, mailer_for(infra.settings), http, now=now)
