"""The availability service's Redis keys (`spa:{<city>:availability}:...`) and scripts.

catalog                  the city catalog: one JSON document, the city file's shape
catalog:version          bumped by every change: a process re-reads the catalog only then
{studio:<id>}:ledger     sorted set: each reservation (hold or confirmed) of the studio as
                         JSON, scored by start. A search reads only its own range
                         (ZRANGEBYSCORE costs log n + what is in range), so 100,000 past
                         bookings cost what 1,000 do.
{studio:<id>}:hold:<id>  the same JSON, found by hold id (confirm, release)
{studio:<id>}:pending    unconfirmed hold ids scored by expires_at: what the sweeper frees
{studio:<id>}:version    bumped by every ledger write: cached searches key on it
{studio:<id>}:catalog    the catalog version, copied here by every catalog change, so
                         the hold script can refuse a hold decided on an older catalog
                         without leaving the studio's Cluster slot
{studio:<id>}:freed      sorted set, an outbox of freed time: each reservation released
                         (as JSON, by the release script itself) and each catalog change
                         (a marker, in the change's MULTI), scored by when; the worker
                         publishes each (slot.released, slot.opened), then removes it

Every key shares the hash tag {<city>:availability} (services/common/redis.py `key`),
so each script and transaction stays in one Redis Cluster slot; a studio's keys are
grouped under {studio:<id>} too, ready to be split by studio if a city ever outgrows
one master (docs/architecture.md, Keys). A therapist's shifts never overlap across
studios (the loader checks it), so each studio's own ledger is enough to keep its
therapists single-booked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import redis

from services.availability.domain import MAX_SPAN_S, CancellationPolicy, Reservation
from services.common.money import Money
from services.common.redis import durably, key

LUA = Path(__file__).parent / "lua"
# An expired hold's record outlives it this long, so a late confirm hears
# "hold_expired" instead of "not_found"; then Redis ages it out.
RECORD_GRACE_S = 7 * 24 * 3600

Decide = Callable[[dict | None, list[Reservation]], dict]


def encode(r: Reservation) -> str:
    policy = r.cancellation
    fields = {**vars(r), "price": r.price.to_json(),
              "addon_prices": [str(amount) for amount in r.addon_prices],
              "cancellation": policy and {"free_until_h": policy.free_until_h,
                                          "late_fee_percent": str(policy.late_fee_percent),
                                          "no_show_fee_percent": str(policy.no_show_fee_percent)}}
    return json.dumps(fields, separators=(",", ":"))


def decode(raw: str) -> Reservation:
    fields = json.loads(raw)
    price = fields.pop("price")
    # Lua's cjson writes an empty list back as {}; older records lack the later fields.
    addons = tuple(fields.pop("addons", None) or ())
    addon_prices = tuple(Decimal(amount) for amount in fields.pop("addon_prices", None) or ())
    policy = fields.pop("cancellation", None)
    cancellation = policy and CancellationPolicy(policy["free_until_h"],
                                                 Decimal(policy["late_fee_percent"]),
                                                 Decimal(policy["no_show_fee_percent"]))
    return Reservation(**fields, price=Money(Decimal(price["amount"]), price["currency"]),
                       addons=addons, addon_prices=addon_prices, cancellation=cancellation)


class Store:
    def __init__(self, client: redis.Redis, city: str):
        self.redis = client
        self.city = city
        self._hold, self._confirm, self._release, self._reserve = (
            client.register_script((LUA / f"{name}.lua").read_text())
            for name in ("hold", "confirm", "release", "reserve"))

    def k(self, *parts: str) -> str:
        return key(self.city, "availability", *parts)

    def studio_keys(self, studio: str, hold_id: str = "") -> list[str]:
        """The keys a script touches: ledger, hold record, pending holds, version."""
        tag = f"{{studio:{studio}}}"
        return [self.k(tag, "ledger"), self.k(tag, "hold", hold_id), self.k(tag, "pending"),
                self.k(tag, "version")]

    # The catalog -------------------------------------------------------------------

    @property
    def catalog_key(self) -> str:
        return self.k("catalog")

    @property
    def version_key(self) -> str:
        return self.k("catalog", "version")

    def catalog_version(self) -> int:
        return int(self.redis.get(self.version_key) or 0)

    def read_catalog(self) -> tuple[int, dict | None]:
        version, doc = self.redis.mget(self.version_key, self.catalog_key)
        return int(version or 0), json.loads(doc) if doc else None

    def save_catalog_if_absent(self, doc: dict) -> bool:
        stored = self.redis.set(self.catalog_key, json.dumps(doc), nx=True)
        if stored:
            self.redis.incr(self.version_key)
        return bool(stored)

    def change_catalog(self, since: int, decide: Decide) -> dict:
        """Store `decide(current doc, reservations from `since` on)`. WATCH makes it
        atomic against holds and other changes: if any lands meanwhile, decide again."""

        def attempt(pipe: redis.client.Pipeline) -> dict:
            version = int(pipe.get(self.version_key) or 0)
            current = json.loads(pipe.get(self.catalog_key) or "null")
            studios = studio_ids(current)
            pipe.watch(*(self.studio_keys(studio)[0] for studio in studios))
            upcoming = [r for studio in studios for r in self._since(pipe, studio, since)]
            doc = decide(current, upcoming)
            pipe.multi()
            pipe.set(self.catalog_key, json.dumps(doc))
            pipe.set(self.version_key, version + 1)
            for studio in set(studios) | set(studio_ids(doc)):
                pipe.set(self.studio_catalog_key(studio), version + 1)
                # A change may open time (a shift added, a closure lifted): say so.
                opened = json.dumps({"studio": studio, "catalog_version": version + 1})
                pipe.zadd(self.freed_key(studio), {opened: since})
            return doc

        return self.redis.transaction(attempt, self.version_key, value_from_callable=True)

    def studio_catalog_key(self, studio: str) -> str:
        return self.k(f"{{studio:{studio}}}", "catalog")

    def freed_key(self, studio: str) -> str:
        return self.k(f"{{studio:{studio}}}", "freed")

    def _since(self, conn, studio: str, since: int) -> list[Reservation]:
        ledger = self.studio_keys(studio)[0]
        return [decode(raw) for raw in conn.zrangebyscore(ledger, since - MAX_SPAN_S, "+inf")]

    # The ledger --------------------------------------------------------------------

    def catalog_and_ledger_versions(self, studios: list[str]) -> tuple[int, tuple[int, ...]]:
        """The catalog's version and each studio's ledger version (equal versions,
        equal ledgers), in one read."""
        found = self.redis.mget([self.version_key,
                                 *(self.studio_keys(studio)[3] for studio in studios)])
        return int(found[0] or 0), tuple(int(version or 0) for version in found[1:])

    def reservations(self, spans: dict[str, tuple[int, int]]) -> list[Reservation]:
        """Every reservation that may overlap [start, end) at each studio, live or not."""
        pipe = self.redis.pipeline(transaction=False)
        for studio, (start, end) in spans.items():
            pipe.zrangebyscore(self.studio_keys(studio)[0], start - MAX_SPAN_S, end + MAX_SPAN_S)
        return [decode(raw) for found in pipe.execute() for raw in found]

    def hold(self, r: Reservation, now: int,
             catalog_version: int) -> tuple[str, Reservation | None]:
        """("held" | "exists" | "taken" | "stale", the reservation now under that hold
        id). "stale": the catalog changed after `catalog_version`, which decided `r`."""
        keys = [*self.studio_keys(r.studio, r.hold_id), self.studio_catalog_key(r.studio)]
        status, found = durably(self._hold, keys, [encode(r), now, MAX_SPAN_S,
                                                   r.expires_at + RECORD_GRACE_S,
                                                   catalog_version])
        return status, decode(found) if status in ("held", "exists") else None

    def reserve(self, r: Reservation, pairs: list[tuple[str, str]], now: int,
                catalog_version: int) -> tuple[str, Reservation | None]:
        """("reserved" | "other_booking" | "taken" | "stale", the reservation): the first
        free pair of `pairs`, written confirmed for `r.booking_id`, in one script."""
        ledger, record, _, version = self.studio_keys(r.studio, r.hold_id)
        status, found = durably(
            self._reserve, [ledger, record, version, self.studio_catalog_key(r.studio)],
            [encode(r), now, MAX_SPAN_S, catalog_version, json.dumps(pairs), r.booking_id])
        return status, decode(found) if found else None

    def confirm(self, studio: str, hold_id: str, booking_id: str,
                now: int) -> tuple[str, Reservation | None]:
        """("confirmed" | "not_found" | "expired" | "other_booking", the reservation)."""
        status, *found = durably(self._confirm, self.studio_keys(studio, hold_id),
                                 [booking_id, now])
        return status, decode(found[0]) if found else None

    def release(self, studio: str, hold_id: str, now: int,
                expired_only: bool = False) -> Reservation | None:
        found = self._release(keys=[*self.studio_keys(studio, hold_id), self.freed_key(studio)],
                              args=[now, "expired" if expired_only else "all"])
        return decode(found) if found else None

    def freed(self, studio: str, limit: int = 100) -> list[tuple[str, float]]:
        """The oldest news of freed time at `studio` not yet relayed: (JSON, when)."""
        return self.redis.zrange(self.freed_key(studio), 0, limit - 1, withscores=True)

    def relayed(self, studio: str, news: list[str]) -> None:
        if news:
            self.redis.zrem(self.freed_key(studio), *news)

    def find(self, studio: str, hold_id: str) -> Reservation | None:
        raw = self.redis.get(self.studio_keys(studio, hold_id)[1])
        return decode(raw) if raw else None

    def expired_holds(self, studio: str, now: int) -> list[str]:
        return self.redis.zrangebyscore(self.studio_keys(studio)[2], "-inf", now)

    def studio_of(self, hold_id: str, studios: Iterable[str]) -> str | None:
        """Which studio keeps this hold (ids are chosen by callers, so they do not say)."""
        studios = list(studios)
        pipe = self.redis.pipeline(transaction=False)
        for studio in studios:
            pipe.exists(self.studio_keys(studio, hold_id)[1])
        return next((s for s, found in zip(studios, pipe.execute(), strict=True) if found),
                    None)


def studio_ids(doc: dict | None) -> list[str]:
    return [studio["id"] for studio in (doc or {}).get("studios", [])]
