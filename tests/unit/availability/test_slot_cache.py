"""How long a search answer or a studio-day may be reused, and the bounds of both."""

from __future__ import annotations

import threading
from decimal import Decimal

from services.availability.domain import Money, Reservation
from services.availability.slot_cache import (
    ENTRY_OVERHEAD,
    FOREVER,
    HORIZON_RECHECK_S,
    Day,
    Lru,
    SlotCache,
    fingerprint,
    holds_expire,
    leaves_notice,
    valid_until,
)

PRICE = Money(Decimal("95.00"), "GBP")


def reservation(expires_at: int, hold_id: str = "h", start: int = 5000) -> Reservation:
    return Reservation(hold_id, "studio", "ashiatsu", 60, "ana", "bars", start, start + 3600,
                       start + 3600, PRICE, expires_at)


def day(valid: int = FOREVER, version: int = 1, seen: tuple = ()) -> Day:
    return Day(version, seen, valid, ())


def test_a_day_lasts_until_its_first_live_hold_expires():
    assert holds_expire([reservation(0), reservation(700), reservation(900)], now=100) == 700
    assert holds_expire([reservation(50)], now=100) == FOREVER  # already expired
    assert holds_expire([reservation(0)], now=100) == FOREVER  # confirmed: never


def test_an_answer_lasts_until_a_day_changes_a_start_comes_too_near_or_the_horizon_moves():
    assert valid_until([day(900), day(700)], [], horizon_cut=False, now=100) == 700
    # the earliest start (9000) is offered while it is at least 600 s away
    assert leaves_notice(9000, notice_s=600) == 8401
    assert valid_until([day(9999)], [leaves_notice(9000, 600)], False, now=100) == 8401
    assert valid_until([day()], [], horizon_cut=True, now=100) == 100 + HORIZON_RECHECK_S
    assert valid_until([], [leaves_notice(None, 600)], False, now=100) == FOREVER


def test_a_day_is_served_for_its_ledger_version_or_the_same_reservations():
    seen = fingerprint([reservation(0)])
    cached = day(valid=500, version=3, seen=seen)
    assert cached.serves(3, now=499) and not cached.serves(4, now=499)
    assert not cached.serves(3, now=500)
    assert cached.still(fingerprint([reservation(0)]), now=499)
    assert not cached.still(fingerprint([reservation(0), reservation(0, "h2", 9000)]), now=1)


def test_a_fingerprint_ignores_order_but_not_a_moved_reservation():
    a, b = reservation(0, "a"), reservation(0, "b", 9000)
    assert fingerprint([a, b]) == fingerprint([b, a])
    assert fingerprint([a]) != fingerprint([reservation(0, "a", 5900)])


def test_an_answer_is_served_only_for_the_same_versions_and_in_time():
    cache = SlotCache()
    cache.put(("q",), (1, 4), 500, b'{"items": []}')
    assert cache.get(("q",), (1, 4), now=499) == b'{"items": []}'
    assert cache.get(("q",), (1, 5), now=499) is None
    assert cache.get(("q",), (1, 4), now=500) is None


def test_the_caches_forget_the_least_recently_used_first():
    cache: Lru[int] = Lru(size=2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    cache.get(("a",))  # used: b is now the oldest
    cache.put(("c",), 3)
    assert cache.get(("b",)) is None and cache.get(("a",)) == 1 and cache.get(("c",)) == 3
    assert len(cache.entries) == 2


def test_whole_answers_are_bounded_by_their_bytes_and_their_number():
    cache = SlotCache(max_bytes=2 * ENTRY_OVERHEAD + 10)
    cache.put(("a",), (), FOREVER, b"12345")
    cache.put(("b",), (), FOREVER, b"12345")
    cache.put(("a",), (), FOREVER, b"123")  # replaced, not counted twice
    cache.put(("c",), (), FOREVER, b"1234")  # b (the oldest) goes
    assert cache.get(("b",), (), 0) is None
    assert cache.get(("a",), (), 0) == b"123" and cache.get(("c",), (), 0) == b"1234"
    assert cache.answers.total == 2 * ENTRY_OVERHEAD + 7
    for n in range(10):  # empty answers still cost their keys: the number stays bounded
        cache.put((n,), (), FOREVER, b"")
    assert len(cache.answers) == 2


def test_threads_sharing_a_cache_keep_its_count_true():
    cache = SlotCache(max_bytes=50 * (ENTRY_OVERHEAD + 100))
    days: Lru[int] = Lru(size=20)

    def churn(offset: int) -> None:
        for n in range(2000):
            key = ((n + offset) % 80,)
            cache.put(key, (), FOREVER, b"x" * 100)
            cache.get(key, (), 0)
            days.put(key, n)
            days.get(((n + 3) % 80,))

    threads = [threading.Thread(target=churn, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.answers.total == sum(len(e.body) + ENTRY_OVERHEAD
                                      for e in cache.answers.entries.values())
    assert len(days.entries) <= 20
