"""How long a search result may be reused: until a hold expires or a slot starts."""

from __future__ import annotations

from decimal import Decimal

from services.availability.domain import Money, Reservation
from services.availability.engine import Slot
from services.availability.slot_cache import FOREVER, SlotCache, valid_until

PRICE = Money(Decimal("95.00"), "GBP")


def reservation(expires_at: int) -> Reservation:
    return Reservation("h", "studio", "ashiatsu", 60, "ana", "bars", 5000, 8600, 8600, PRICE,
                       expires_at)


def test_a_result_lasts_until_the_first_live_hold_expires_or_the_first_slot_starts():
    slots = [Slot("studio", 9000, 12600, ("ana",), PRICE)]
    assert valid_until(slots, [reservation(0), reservation(700)], now=100) == 700
    assert valid_until(slots, [reservation(50)], now=100) == 9000  # already expired
    assert valid_until([], [], now=100) == FOREVER


def test_an_entry_is_served_only_for_the_same_versions_and_in_time():
    cache = SlotCache()
    cache.put(("q",), (1, 4), 500, b'{"items": []}')
    assert cache.get(("q",), (1, 4), now=499) == b'{"items": []}'
    assert cache.get(("q",), (1, 5), now=499) is None
    assert cache.get(("q",), (1, 4), now=500) is None


def test_the_cache_stays_bounded():
    cache = SlotCache(size=2)
    for n in range(5):
        cache.put((n,), (), FOREVER, b"")
    assert len(cache.entries) <= 2
