"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass

from services.booking.availability_client import AvailabilityClient
from services.booking.store import BookingStore
from services.common.service import Infra


@dataclass
class Context:
    infra: Infra
    store: BookingStore
    availability: AvailabilityClient

    @property
    def city(self) -> str:
        return self.infra.settings.city


def saga_timeout_s(infra: Infra) -> float:
    """How long a saga step may take before the worker undoes it: a request that
    has not finished by then waited out its two RPC timeouts and died."""
    return 3 * infra.settings.rpc_timeout_s


def bootstrap(infra: Infra) -> Context:
    store = BookingStore(infra.redis, infra.settings.city, saga_timeout_s(infra))
    return Context(infra, store, AvailabilityClient(infra))
