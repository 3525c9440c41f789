"""Properties of the search over random ledgers: whatever is booked, an offered slot
never collides with live time, and its therapist and room are fit for it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.availability import engine
from services.availability.domain import Order, Reservation
from services.common.money import Money
from tests.unit.availability.catalogs import at, london

CATALOG = london()
STUDIO = CATALOG.studios["camden"]
DAY = date(2027, 1, 5)
DAY_START = at("2027-01-05T00:00:00+00:00")
NOW = at("2027-01-04T12:00:00+00:00")
THERAPISTS = [t.id for t in CATALOG.therapists_at("camden")]
ROOMS = [r.id for r in CATALOG.rooms_at("camden")]
OFFERED = [(t.id, d) for t in CATALOG.treatments.values() for d in t.durations_min]


@st.composite
def reservations(draw) -> Reservation:
    start = DAY_START + draw(st.integers(6 * 60, 21 * 60)) * 60
    minutes = draw(st.integers(15, 120))
    late_s = draw(st.sampled_from([0, 1, 59]))  # a block that ends inside a minute
    expires_at = draw(st.sampled_from([0, NOW - 1, NOW + 600]))  # confirmed, expired, live
    return Reservation(f"h{draw(st.integers())}", "camden", "x", minutes,
                       draw(st.sampled_from(THERAPISTS)), draw(st.sampled_from(ROOMS)),
                       start, start + minutes * 60, start + minutes * 60 + late_s,
                       Money(Decimal(1), "GBP"), expires_at)


ledgers = st.lists(reservations(), max_size=25)


def live_spans(ledger: list[Reservation], resource: str) -> list[engine.Span]:
    return [engine.Span(r.start, r.busy_until) for r in ledger
            if r.is_live(NOW) and resource in (r.therapist, r.room)]


def search(ledger, treatment_id: str, duration: int) -> list[engine.Slot]:
    query = engine.SlotQuery(Order(CATALOG.treatments[treatment_id], duration), (STUDIO,), DAY,
                             DAY)
    return engine.search(CATALOG, query, ledger, NOW)


def on_shift(therapist_id: str, span: engine.Span) -> bool:
    hours = CATALOG.therapists[therapist_id].hours_at("camden", DAY)
    return any(engine.local_span(DAY, h, STUDIO.zone).contains(span) for h in hours)


@settings(max_examples=60, deadline=None)
@given(ledgers, st.sampled_from(OFFERED))
def test_no_offered_slot_overlaps_live_time_of_its_therapists_or_every_room(ledger, offered):
    order = Order(CATALOG.treatments[offered[0]], offered[1])
    for slot in search(ledger, *offered):
        span = engine.Span(slot.start, slot.start + order.busy_s)
        for therapist in slot.therapists:
            assert engine.is_free(span, live_spans(ledger, therapist))
        fit_rooms = [r.id for r in CATALOG.rooms_at("camden") if order.can_use(r)]
        assert any(engine.is_free(span, live_spans(ledger, room)) for room in fit_rooms)


@settings(max_examples=60, deadline=None)
@given(ledgers, st.sampled_from(OFFERED))
def test_every_slot_therapist_has_the_skill_and_is_on_shift_for_the_whole_span(ledger, offered):
    order = Order(CATALOG.treatments[offered[0]], offered[1])
    for slot in search(ledger, *offered):
        span = engine.Span(slot.start, slot.start + order.busy_s)
        assert slot.start % (STUDIO.slot_step_min * 60) == 0
        for therapist in slot.therapists:
            assert order.can_be_given_by(CATALOG.therapists[therapist])
            assert on_shift(therapist, span)


@settings(max_examples=60, deadline=None)
@given(ledgers, st.sampled_from(OFFERED))
def test_a_hold_can_take_exactly_the_therapists_a_slot_lists(ledger, offered):
    """The search (bitsets of minutes) against the hold's check (interval lists), at
    every grid start of the day: the same starts, the same therapists."""
    order = Order(CATALOG.treatments[offered[0]], offered[1])
    slots = {slot.start: slot for slot in search(ledger, *offered)}
    for start in range(DAY_START, DAY_START + engine.DAY_S, STUDIO.slot_step_min * 60):
        pairs = engine.free_pairs(CATALOG, STUDIO, order, start, ledger, NOW)
        offered_by = tuple(sorted({pair.therapist.id for pair in pairs}))
        assert offered_by == (slots[start].therapists if start in slots else ())
        assert all(order.can_use(pair.room) for pair in pairs)
