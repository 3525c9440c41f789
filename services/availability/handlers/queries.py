"""What partners read: the city's studios and treatments, and free slots."""

from __future__ import annotations

import json
from dataclasses import dataclass

from services.availability import engine
from services.availability.bootstrap import Context
from services.availability.commands import SearchSlots
from services.availability.domain import AddOn, BookingWindow, Catalog, Studio, Treatment
from services.availability.slot_cache import valid_until
from services.common.auth import Principal
from services.common.money import Money


@dataclass(frozen=True)
class AddOnOffer:
    """An add-on as a treatment offers it: with its price for each of its lengths."""

    addon: AddOn
    prices: dict[int, Money]

    def __getattr__(self, name: str):
        return getattr(self.addon, name)


@dataclass(frozen=True)
class Offered:
    """A treatment as partners see it: with its add-ons and, at each studio they see,
    the booking window in force."""

    treatment: Treatment
    addon_offers: list[AddOnOffer]
    booking_windows: dict[str, BookingWindow]

    def __getattr__(self, name: str):
        return getattr(self.treatment, name)


def visible_studios(ctx: Context, principal: Principal) -> list[Studio]:
    return [s for s in ctx.catalog().studios.values() if principal.sees(s.id)]


def treatments(ctx: Context, principal: Principal) -> list[Offered]:
    catalog = ctx.catalog()
    studios = visible_studios(ctx, principal)
    return [Offered(t, addon_offers(catalog, t), {s.id: catalog.window(s, t) for s in studios})
            for t in catalog.treatments.values()]


def addon_offers(catalog: Catalog, treatment: Treatment) -> list[AddOnOffer]:
    addons = [catalog.addons[a] for a in treatment.addons]
    return [AddOnOffer(a, {d: a.price_for(d) for d in treatment.durations_min}) for a in addons]


def search_slots(ctx: Context, principal: Principal, search: SearchSlots) -> bytes:
    """The JSON body of a slot search, `{"items": [...]}`. The hot path: a repeated
    search is answered with the bytes of its last answer while they still hold."""
    catalog_version, catalog = ctx.versioned_catalog()
    query = slot_query(catalog, principal, search)
    studios = tuple(studio.id for studio in query.studios)
    key = (catalog_version, search.treatment, search.duration, search.addons, studios,
           search.first, search.last, search.therapist, search.therapist_gender)
    # Versions are read before the ledger: a write in between only makes a later miss.
    versions, now = ctx.store.versions(studios), ctx.now()
    if (body := ctx.slots.get(key, versions, now)) is None:
        body, until = computed_slots(ctx, catalog, query, now)
        ctx.slots.put(key, versions, until, body)
    return body


def slot_query(catalog: Catalog, principal: Principal, search: SearchSlots) -> engine.SlotQuery:
    order = catalog.order(search.treatment, search.duration, search.addons)
    if search.therapist:
        catalog.therapist(search.therapist)
    studios = searched_studios(catalog, principal, search.studio)
    return engine.SlotQuery(order, studios, search.first, search.last, search.therapist,
                            search.therapist_gender)


def searched_studios(catalog: Catalog, principal: Principal,
                     studio: str | None) -> tuple[Studio, ...]:
    if studio is None:
        return tuple(s for s in catalog.studios.values() if principal.sees(s.id))
    principal.require_studio(studio, f"studio: {studio}")
    return (catalog.studio(studio),)


def computed_slots(ctx: Context, catalog: Catalog, query: engine.SlotQuery,
                   now: int) -> tuple[bytes, int]:
    """The search's body, and until when it holds without a write."""
    spans = {s.id: engine.query_span(s, query.first, query.last) for s in query.studios}
    reservations = ctx.store.reservations({s: (w.start, w.end) for s, w in spans.items()})
    slots = engine.search(catalog, query, reservations, now)
    body = json.dumps({"items": [slot.to_json() for slot in slots]}).encode()
    return body, valid_until(slots, reservations, now)
