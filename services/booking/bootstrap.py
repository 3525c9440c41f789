"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.booking.availability_client import AvailabilityClient
from services.booking.store import BookingStore
from services.common.clock import Clock
from services.common.service import Infra


@dataclass
class Context:
    infra: Infra
    store: BookingStore
    availability: AvailabilityClient
    clock: Clock = field(default_factory=Clock)

    @property
    def city(self) -> str:
        return self.infra.settings.city


def saga_timeout_s(infra: Infra) -> float:
    """How long a saga step may take before the worker undoes it: a request that
    has not finished by then waited out its two RPC timeouts and died."""
    return 3 * infra.settings.rpc_timeout_s


def bootstrap(infra: Infra, clock: Clock | None = None) -> Context:
    clock = clock or Clock()
    store = BookingStore(infra.redis, infra.settings.city, saga_timeout_s(infra), clock)
    return Context(infra, store, AvailabilityClient(infra), clock)
