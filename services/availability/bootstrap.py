"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.availability.catalog_loader import parse_stored
from services.availability.domain import Catalog
from services.availability.slot_cache import DayCache, SlotCache
from services.availability.store import Store
from services.common.clock import Clock
from services.common.service import Infra


@dataclass
class Context:
    infra: Infra
    store: Store
    clock: Clock = field(default_factory=Clock)
    slots: SlotCache = field(default_factory=SlotCache)
    days: DayCache = field(default_factory=DayCache)
    _cached: tuple[int, Catalog] | None = field(default=None, repr=False)

    @property
    def city(self) -> str:
        return self.infra.settings.city

    def now(self) -> int:
        """Epoch seconds: the ledger's unit."""
        return int(self.clock.epoch())

    def catalog(self) -> Catalog:
        return self.versioned_catalog()[1]

    def versions_now(self) -> tuple[int, Catalog, dict[str, int]]:
        """The catalog with its version, and every studio's ledger version: one read
        while the catalog is unchanged (the search's hot path), two after a change."""
        cached = self._cached
        studios = list(cached[1].studios) if cached else []
        version, ledgers = self.store.catalog_and_ledger_versions(studios)
        catalog = cached[1] if cached else None
        if cached is None or cached[0] != version:  # read the new one, then its studios'
            version, catalog = self.versioned_catalog()
            studios = list(catalog.studios)
            ledgers = self.store.catalog_and_ledger_versions(studios)[1]
        return version, catalog, dict(zip(studios, ledgers, strict=True))

    def versioned_catalog(self) -> tuple[int, Catalog]:
        """The stored catalog and its version; parsed again only after a change (one
        GET per call). One tuple, so threads never pair a version with another catalog."""
        cached = self._cached
        if cached is None or cached[0] != self.store.catalog_version():
            version, doc = self.store.read_catalog()
            catalog = parse_stored(doc) if doc else Catalog.empty(self.city)
            cached = self._cached = (version, catalog)
        return cached


ANSWER_BYTES_PER_DAY = 4096  # whole answers get this much room per studio-day kept


def bootstrap(infra: Infra, clock: Clock | None = None) -> Context:
    size = infra.settings.slot_cache_days  # 0: every search computed (measuring, debugging)
    return Context(infra, Store(infra.redis, infra.settings.city), clock or Clock(),
                   SlotCache(size * ANSWER_BYTES_PER_DAY), DayCache(size))
