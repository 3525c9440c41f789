"""The slot search as a partner sees its results: which starts are offered, when, by whom."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from services.availability import engine
from services.availability.domain import Absence, Order, Reservation
from services.common.money import Money
from tests.unit.availability.catalogs import EPOCH, at, city, local, london

DAY = date(2027, 1, 5)  # a Tuesday, far from any clock change
LONDON_NOW = at("2027-01-04T09:00:00+00:00")  # inside London's 60-day window of DAY


def search(catalog, treatment="ashiatsu", duration=60, first=DAY, last=None, studios=None,
           reservations=(), now=EPOCH, therapist=None):
    query = engine.SlotQuery(Order(catalog.treatments[treatment], duration),
                             tuple(catalog.studios[s] for s in studios or catalog.studios),
                             first, last or first, therapist)
    return engine.search(catalog, query, reservations, now)


def booked(start: str, minutes: int = 60, therapist="ana", room="bars", expires_at=0,
           studio="studio") -> Reservation:
    begin = at(start)
    return Reservation(f"h-{start}-{therapist}-{room}", studio, "ashiatsu", minutes, therapist,
                       room, begin, begin + minutes * 60, begin + minutes * 60,
                       Money(Decimal("95.00"), "GBP"), expires_at)


def local_times(slots, catalog) -> list[str]:
    return [f"{local(s.start, catalog, s.studio):%H:%M}" for s in slots]


def test_a_free_day_offers_every_step_that_fits_the_shift():
    slots = search(city())
    assert local_times(slots, city())[0] == "09:00"
    assert local_times(slots, city())[-1] == "16:00"  # 16:00 + 60 min = the shift's end
    assert len(slots) == 29  # 09:00..16:00 every 15 min


def test_a_slot_carries_its_end_therapists_and_price():
    slot = search(city())[0]
    assert slot.end - slot.start == 3600
    assert slot.therapists == ("ana",)
    assert slot.to_json()["price"] == {"amount": "95.00", "currency": "GBP"}
    assert slot.to_json()["start"] == "2027-01-05T09:00:00+00:00"


def test_the_cleanup_buffer_must_fit_before_the_shift_ends():
    slots = search(city(buffer_min=15))
    assert local_times(slots, city())[-1] == "15:45"


def test_a_reservation_and_its_buffer_block_the_therapist_and_the_room():
    catalog = city(buffer_min=15)
    taken = replace(booked("2027-01-05T12:00:00+00:00"), busy_until=at("2027-01-05T13:15:00Z"))
    times = local_times(search(catalog, reservations=[taken]), catalog)
    assert "10:45" in times and "11:00" not in times  # 11:00 + 60 + 15 would reach 12:15
    assert "13:00" not in times and "13:15" in times  # its cleanup runs to 13:15


def test_an_expired_hold_is_free_time_at_once():
    now = at("2027-01-05T08:00:00+00:00")
    hold = booked("2027-01-05T12:00:00+00:00", expires_at=now)
    assert "12:00" in local_times(search(city(), reservations=[hold], now=now), city())
    live = replace(hold, expires_at=now + 1)
    assert "12:00" not in local_times(search(city(), reservations=[live], now=now), city())


def test_starts_in_the_past_are_not_offered():
    now = at("2027-01-05T12:05:00+00:00")
    assert local_times(search(city(), now=now), city())[0] == "12:15"


def test_a_room_taken_by_another_therapist_still_blocks_the_slot():
    catalog = city()
    other = booked("2027-01-05T10:00:00+00:00", therapist="someone-else")
    assert "10:00" not in local_times(search(catalog, reservations=[other]), catalog)


def test_a_closure_and_time_off_remove_their_hours():
    catalog = city()
    studio = replace(catalog.studios["studio"], closures=(Absence(date(2027, 1, 6),
                                                                   date(2027, 1, 6)),))
    noon, two = (datetime.fromisoformat(f"2027-01-05T{h}:00:00+00:00") for h in (12, 14))
    ana = replace(catalog.therapists["ana"], time_off=(Absence(noon, two),))
    catalog = catalog.with_entry("studios", studio).with_entry("therapists", ana)
    slots = search(catalog, last=date(2027, 1, 6))
    assert {local(s.start, catalog).date() for s in slots} == {DAY}
    assert not [t for t in local_times(slots, catalog) if "11:15" <= t < "14:00"]


def test_each_slot_lists_every_therapist_who_can_take_it_sorted():
    catalog = london()
    slots = search(catalog, studios=["camden"], now=LONDON_NOW)
    both = [s for s in slots if len(s.therapists) == 2]
    assert both and all(s.therapists == ("jonas", "maya") for s in both)


def test_results_are_sorted_by_start_across_studios_and_days():
    catalog = london()
    slots = search(catalog, treatment="relaxation", first=DAY, last=DAY + timedelta(days=2),
                   now=LONDON_NOW)
    assert [s.start for s in slots] == sorted(s.start for s in slots)
    assert {s.studio for s in slots} == {"camden", "islington"}


def test_a_named_therapist_narrows_the_search():
    catalog = london()
    slots = search(catalog, studios=["camden"], therapist="jonas", now=LONDON_NOW)
    assert slots and all(s.therapists == ("jonas",) for s in slots)
    assert local_times(slots, catalog)[0] == "13:00"


def test_a_treatment_without_a_fitting_room_is_not_offered_there():
    assert search(london(), studios=["islington"]) == []  # no overhead bars in islington


def test_instants_bound_the_search_half_open():
    first, last = (datetime.fromisoformat(f"2027-01-05T{h}:00:00+00:00") for h in (10, 11))
    slots = search(city(), first=first, last=last)
    assert local_times(slots, city()) == ["10:00", "10:15", "10:30", "10:45"]


# Clock changes ------------------------------------------------------------------------

CHANGES = [("Europe/London", date(2026, 10, 25)), ("Europe/London", date(2027, 3, 28)),
           ("America/New_York", date(2026, 11, 1)), ("America/New_York", date(2027, 3, 14))]


@pytest.mark.parametrize(("zone", "day"), CHANGES)
def test_a_nine_to_five_shift_stays_nine_to_five_local_across_a_clock_change(zone, day):
    catalog = city(zone=zone, step=60)
    slots = search(catalog, first=day - timedelta(days=1), last=day + timedelta(days=1))
    by_day: dict = {}
    for slot in slots:
        by_day.setdefault(local(slot.start, catalog).date(), []).append(slot)
    assert len(by_day) == 3
    for day_slots in by_day.values():
        assert local_times(day_slots, catalog) == [f"{h:02}:00" for h in range(9, 17)]


@pytest.mark.parametrize(("zone", "day"), [CHANGES[1], CHANGES[3]])
def test_nothing_is_offered_in_the_spring_forward_gap(zone, day):
    catalog = city(zone=zone, hours="00:00-05:00", step=15)
    slots = search(catalog, duration=30, first=day)
    starts = [local(s.start, catalog) for s in slots]
    assert not [t for t in starts if t.hour == 2 and zone == "America/New_York"]
    assert not [t for t in starts if t.hour == 1 and zone == "Europe/London"]
    assert f"{starts[0]:%H:%M}" == "00:00"


@pytest.mark.parametrize(("zone", "day"), [CHANGES[0], CHANGES[2]])
def test_the_repeated_autumn_hour_is_offered_once_per_real_instant(zone, day):
    catalog = city(zone=zone, hours="00:00-04:00", step=30)
    slots = search(catalog, duration=30, first=day)
    starts = [s.start for s in slots]
    assert len(starts) == len(set(starts))
    # 01:30 (summer time) is left out: it would end as the clocks go back.
    assert local_times(slots, catalog) == ["00:00", "00:30", "01:00", "01:00", "01:30",
                                           "02:00", "02:30", "03:00", "03:30"]
    twice = [s for s in starts if f"{local(s, catalog):%H:%M}" == "01:00"]
    assert twice[1] - twice[0] == 3600  # two real instants, an hour apart


@pytest.mark.parametrize(("zone", "day"), CHANGES)
def test_no_treatment_runs_across_a_clock_change(zone, day):
    catalog = city(zone=zone, hours="00:00-05:00", step=15)
    for slot in search(catalog, duration=60, first=day):
        begin, end = local(slot.start, catalog), local(slot.end, catalog)
        assert begin.utcoffset() == end.utcoffset()
        assert (end.replace(tzinfo=None) - begin.replace(tzinfo=None)) == timedelta(hours=1)


def test_a_treatment_never_straddles_a_shift_end():
    catalog = london()
    for slot in search(catalog, duration=90, studios=["camden"], therapist="maya"):
        assert local(slot.start, catalog, "camden").hour < 16
        assert slot.start + (90 + 15) * 60 <= at("2027-01-05T16:00:00+00:00")


def test_a_days_slots_are_encoded_as_their_json():
    """The search's own encoder (shared parts written once) says what to_json says."""
    import json

    from services.availability.handlers.queries import encoded

    slots = search(london(), studios=["camden"], now=LONDON_NOW)
    assert len({s.therapists for s in slots}) > 1  # several therapist lists to render
    assert [json.loads(text) for _, text in encoded(slots)] == [s.to_json() for s in slots]
    assert [start for start, _ in encoded(slots)] == [s.start for s in slots]
    assert encoded([]) == ()
