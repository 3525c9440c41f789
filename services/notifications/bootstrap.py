"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import requests

from services.common.clock import Clock
from services.common.config import Settings
from services.common.service import Infra
from services.notifications.mail import Mailer, mailer_for
from services.notifications.store import NotificationStore
from services.notifications.webhooks import webhook_session


@dataclass
class Context:
    infra: Infra
    store: NotificationStore
    mailer: Mailer
    # Keep-alive connections to partner endpoints (webhooks.webhook_session); used by
    # the worker's one thread.
    http: requests.Session
    # The clock reminders and retries are scheduled by; tests pass one they can advance.
    clock: Clock = field(default_factory=Clock)

    @property
    def settings(self) -> Settings:
        return self.infra.settings

    def now(self) -> datetime:
        return self.clock.now()


def bootstrap(infra: Infra, clock: Clock | None = None) -> Context:
    clock = clock or Clock()
    store = NotificationStore(infra.redis, infra.settings.city, clock)
    http = webhook_session(infra.settings.webhook_allow_private)
    return Context(infra, store, mailer_for(infra.settings), http, clock)
