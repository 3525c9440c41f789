"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.booking.availability_client import AvailabilityClient
from services.booking.clients import ClientStore
from services.booking.notifications_client import NotificationsClient
from services.booking.store import BookingStore
from services.booking.waitlist_store import WaitlistStore
from services.common.clock import Clock
from services.common.service import Infra
from services.common.vault import Vault


@dataclass
class Context:
    infra: Infra
    store: BookingStore
    clients: ClientStore
    waitlist: WaitlistStore
    availability: AvailabilityClient
    clock: Clock = field(default_factory=Clock)

    @property
    def city(self) -> str:
        return self.infra.settings.city

    @property
    def notifications(self) -> NotificationsClient:
        """notifications' RPC (a client's export asks it), its refusals filtered."""
        return NotificationsClient(self.infra)


def saga_timeout_s(infra: Infra) -> float:
    """How long a saga step may take before the worker undoes it: a request that
    has not finished by then waited out its two RPC timeouts and died."""
    return 3 * infra.settings.rpc_timeout_s


def bootstrap(infra: Infra, clock: Clock | None = None) -> Context:
    clock, vault = clock or Clock(), Vault(infra.settings.data_key)
    store = BookingStore(infra.redis, infra.settings.city, saga_timeout_s(infra), clock,
                         vault)
    clients = ClientStore(infra.redis, infra.settings.city, clock, vault)
    waitlist = WaitlistStore(infra.redis, store)
    return Context(infra, store, clients, waitlist, AvailabilityClient(infra), clock)
