"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from services.common.config import Settings
from services.common.service import Infra
from services.notifications.mail import Mailer, mailer_for
from services.notifications.store import NotificationStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    infra: Infra
    store: NotificationStore
    mailer: Mailer
    # Keep-alive connections to partner endpoints; used by the worker's one thread.
    http: requests.Session = field(default_factory=requests.Session)
    # The clock reminders and retries are scheduled by; tests pass one they can advance.
    now: Callable[[], datetime] = utc_now

    @property
    def settings(self) -> Settings:
        return self.infra.settings


def bootstrap(infra: Infra, now: Callable[[], datetime] = utc_now) -> Context:
    store = NotificationStore(infra.redis, infra.settings.city)
    return Context(infra, store, mailer_for(infra.settings), now=now)
