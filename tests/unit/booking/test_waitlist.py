"""The waitlist's rules: windows, who wants freed time, and how an entry moves. No
Redis, no Flask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.booking.domain import Hold, Named
from services.booking.waitlist import (
    BOOKED,
    OFFERED,
    WAITING,
    Entry,
    Offer,
    Window,
    check_windows,
)
from services.common.errors import Invalid, InvalidTransition, OutsideBookingWindow

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
TEN = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)


def window(start: datetime, hours: float = 2) -> Window:
    return Window(start, start + timedelta(hours=hours))


def entry(**changes) -> Entry:
    base = Entry("wl_a", "pt_1", "cl_1", ("camden",), "ashiatsu", 60, (window(TEN),), NOW, NOW)
    return Entry(**{**base.__dict__, **changes})


def offer(start: datetime = TEN) -> Offer:
    hold = Hold("wl_wl_a_1", "camden", "ashiatsu", 60, start, start + timedelta(hours=1),
                Named("maya", "Maya"), Named("camden-bars", "Bars"),
                {"amount": "95.00", "currency": "GBP"}, NOW + timedelta(minutes=15))
    return Offer.of(hold)


def test_an_entry_wants_time_that_freed_inside_a_window_at_its_studios():
    waiting = entry()
    assert waiting.wants("camden", TEN + timedelta(minutes=30), TEN + timedelta(hours=3))
    assert not waiting.wants("camden", TEN + timedelta(hours=2), TEN + timedelta(hours=3))
    assert not waiting.wants("islington", TEN, TEN + timedelta(hours=1))
    assert waiting.wants("camden")  # news without a range (a catalog change)
    assert not entry(status=OFFERED).wants("camden")


def test_an_offer_is_made_once_and_names_the_next_hold():
    waiting = entry()
    assert waiting.next_hold_id() == "wl_wl_a_1"
    offered = waiting.offered(offer(), NOW)
    assert (offered.status, offered.offers, offered.next_hold_id()) == (OFFERED, 1,
                                                                        "wl_wl_a_2")
    with pytest.raises(InvalidTransition):
        offered.offered(offer(), NOW)


def test_a_declined_or_lapsed_offer_puts_the_entry_back_and_remembers_the_start():
    back = entry().offered(offer(), NOW).back_in_line(NOW)
    assert (back.status, back.offer, back.passed_on) == (WAITING, None, (TEN,))


def test_only_an_offered_entry_can_be_booked_and_a_booked_one_cannot_leave():
    booked = entry().offered(offer(), NOW).booked("bk_1", NOW)
    assert (booked.status, booked.booking) == (BOOKED, "bk_1")
    with pytest.raises(InvalidTransition):
        entry().booked("bk_1", NOW)
    with pytest.raises(InvalidTransition):
        booked.left(NOW)


def test_an_entry_expires_once_every_window_has_passed():
    waiting = entry(windows=(window(TEN), window(TEN + timedelta(days=1))))
    assert not waiting.passed(TEN + timedelta(hours=3))
    assert waiting.passed(TEN + timedelta(days=1, hours=2))
    assert waiting.open_windows(TEN + timedelta(hours=3)) == (waiting.windows[1],)


@pytest.mark.parametrize("windows, error", [
    ((Window(TEN, TEN),), Invalid),
    ((window(NOW - timedelta(hours=5)),), Invalid),
    ((window(NOW + timedelta(days=61)),), OutsideBookingWindow),
])
def test_windows_must_be_real_future_and_within_the_horizon(windows, error):
    with pytest.raises(error):
        check_windows(windows, NOW, NOW + timedelta(days=60))
    check_windows((window(TEN),), NOW, NOW + timedelta(days=60))
