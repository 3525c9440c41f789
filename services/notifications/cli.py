"""The upgrade `spa init` runs on notifications' stored data (the entry point,
services/cli.py, adds it)."""

from __future__ import annotations

from services.common.auth import KeyStore
from services.common.service import Infra
from services.notifications.bootstrap import bootstrap


def upgrade_store(infra: Infra) -> str:
    """Endpoints registered before partner accounts are owned by the key that made
    them; they move to that key's partner, so rotating its keys keeps them."""
    ctx = bootstrap(infra)
    partner_of = KeyStore(infra.redis, infra.settings.city).partner_of_keys()
    moved = [e for e in ctx.store.endpoints() if partner_of.get(e.owner)]
    for endpoint in moved:
        ctx.store.change_owner(endpoint, partner_of[endpoint.owner])
    return f"notifications: {len(moved)} webhook endpoint(s) now owned by their partner" \
        if moved else ""
