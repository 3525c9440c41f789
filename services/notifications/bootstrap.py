"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.service import Infra
from services.notifications.store import NotificationStore


@dataclass
class Context:
    infra: Infra
    store: NotificationStore


def bootstrap(infra: Infra) -> Context:
    return Context(infra, NotificationStore(infra.redis, infra.settings.city))
