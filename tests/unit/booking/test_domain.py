"""The booking rules, without any infrastructure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.booking import domain
from services.booking.domain import (
    CancellationTerms,
    Customer,
    Description,
    Hold,
    Intake,
    Named,
    Replay,
    StudioFacts,
    TreatmentFacts,
)
from services.common.errors import Contraindicated, IntakeRequired, InvalidTransition
from services.common.money import Money

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
START = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)
ASHIATSU = ("pregnancy", "recent_surgery", "recent_injury")
CAMDEN = StudioFacts("camden", "Triyoga Camden", "Erskine Road", "Europe/London")
TERMS = CancellationTerms(24, Decimal(50), Decimal(100))
DESCRIBED = Description(
    CAMDEN,
    TreatmentFacts("ashiatsu", "Ashiatsu", ASHIATSU, True, ("hydrate",), ("drink water",), 180),
    (Named("relaxation-massage", "Relaxation massage"),))


def described(contraindications=ASHIATSU, intake_required=True) -> Description:
    treatment = TreatmentFacts("ashiatsu", "Ashiatsu", tuple(contraindications),
                               intake_required)
    return Description(CAMDEN, treatment, DESCRIBED.alternatives)


def intake(**declared) -> Intake:
    flags = {"pregnant": False, "recent_surgery": False, "recent_injury": False,
             "pressure": "medium"}
    return Intake(**{**flags, **declared})


def hold(start: datetime = START, hold_id: str = "h1", therapist: str = "t1",
         price: str = "120.00", terms: CancellationTerms = TERMS) -> Hold:
    return Hold(hold_id, "camden", "ashiatsu", 60, start, start + timedelta(minutes=60),
                Named(therapist, "Therapist"), Named("r1", "Bar room"),
                {"amount": price, "currency": "GBP"}, NOW + timedelta(minutes=10),
                terms=terms)


def booking(status: str = "confirmed", start: datetime = START) -> domain.Booking:
    pending = domain.new_booking("b1", hold(start), Customer("Ada", "ada@example.com"),
                                 domain.Screening(intake()), DESCRIBED, NOW)
    return replace(pending, status=status)


class TestScreening:
    def test_a_declared_contraindication_refuses_with_reasons_and_alternatives(self):
        with pytest.raises(Contraindicated) as refusal:
            domain.screen(intake(pregnant=True, recent_injury=True), DESCRIBED)
        assert refusal.value.code == "contraindicated"
        assert refusal.value.extra == {"reasons": ["pregnancy", "recent_injury"],
                                       "alternatives": ["relaxation-massage"]}
        assert refusal.value.detail == "Ashiatsu is not safe with: pregnancy, recent_injury"

    def test_a_clean_intake_is_kept_with_the_rule_version(self):
        declared = intake(pressure="firm", notes="sore shoulder")
        screening = domain.screen(declared, DESCRIBED)
        assert screening.declared == declared
        assert screening.rule_version == domain.RULE_VERSION

    def test_a_flag_the_treatment_does_not_mind_is_accepted(self):
        declared = intake(pregnant=True)
        assert domain.screen(declared, described(["recent_surgery"], False)).declared == declared

    @pytest.mark.parametrize("contraindications, required", [(ASHIATSU, False), ((), True)])
    def test_no_intake_is_refused_when_the_treatment_needs_one(self, contraindications,
                                                               required):
        with pytest.raises(IntakeRequired, match="Ashiatsu needs the client's intake"):
            domain.screen(None, described(contraindications, required))

    def test_no_intake_is_fine_for_a_treatment_without_contraindications(self):
        assert domain.screen(None, described((), False)).declared is None

    def test_a_catalog_name_without_an_intake_flag_cannot_refuse(self):
        declared = intake(pregnant=True)
        assert domain.screen(declared, described(["sunburn"], False)).declared == declared


class TestStateMachine:
    @pytest.mark.parametrize("to", ["cancelled", "completed", "no_show"])
    def test_a_confirmed_booking_can_end_in_each_final_state(self, to):
        later = NOW + timedelta(hours=1)
        changed = domain.transition(booking(), to, later)
        assert (changed.status, changed.updated_at) == (to, later)

    @pytest.mark.parametrize("status", ["cancelled", "completed", "no_show", "failed"])
    @pytest.mark.parametrize("to", ["confirmed", "cancelled", "completed", "no_show"])
    def test_a_final_booking_never_changes(self, status, to):
        with pytest.raises(InvalidTransition):
            domain.transition(booking(status), to, NOW)

    def test_pending_becomes_confirmed_or_failed_only(self):
        assert domain.transition(booking("pending"), "confirmed", NOW).status == "confirmed"
        assert domain.transition(booking("pending"), "failed", NOW).status == "failed"
        with pytest.raises(InvalidTransition):
            domain.transition(booking("pending"), "cancelled", NOW)

    def test_only_the_four_partner_states_are_visible(self):
        assert not booking("pending").visible and not booking("failed").visible
        assert all(booking(s).visible for s in domain.VISIBLE)


class TestCancellationPolicy:
    def test_the_policy_is_the_terms_in_instants_and_money(self):
        policy = booking().policy
        assert policy.free_cancellation_until == START - timedelta(hours=24)
        assert policy.late_fee == Money(Decimal("60.00"), "GBP")
        assert policy.no_show_fee == Money(Decimal("120.00"), "GBP")

    def test_cancelling_before_the_deadline_is_free(self):
        cancelled = domain.cancel(booking(), START - timedelta(hours=25), "flu")
        assert (cancelled.status, cancelled.late_cancellation) == ("cancelled", False)
        assert cancelled.fee == {"amount": "0.00", "currency": "GBP"}
        assert cancelled.cancel_reason == "flu"

    def test_cancelling_exactly_at_the_deadline_is_still_free(self):
        cancelled = domain.cancel(booking(), START - timedelta(hours=24))
        assert not cancelled.late_cancellation and cancelled.fee["amount"] == "0.00"

    def test_cancelling_a_second_after_the_deadline_costs_the_late_fee(self):
        cancelled = domain.cancel(booking(), START - timedelta(hours=24) + timedelta(seconds=1))
        assert cancelled.late_cancellation
        assert cancelled.fee == {"amount": "60.00", "currency": "GBP"}

    def test_a_no_show_costs_the_no_show_fee_and_keeps_its_time(self):
        missed = domain.no_show(booking(), START + timedelta(hours=1))
        assert (missed.status, missed.fee) == ("no_show", {"amount": "120.00",
                                                          "currency": "GBP"})

    @pytest.mark.parametrize("price, percent, fee", [
        ("95.00", "33.33", "31.66"),   # 31.66335: down
        ("0.15", "50", "0.08"),         # 0.075: half goes up
        ("99.99", "12.5", "12.50"),    # 12.49875: up
        ("120.00", "0", "0.00"),
        ("120.00", "100", "120.00"),
    ])
    def test_fees_are_exact_and_rounded_half_up_to_the_penny(self, price, percent, fee):
        terms = CancellationTerms(24, Decimal(percent), Decimal(percent))
        made = domain.new_booking("b3", hold(price=price, terms=terms),
                                  Customer("Ada", "a@x.org"), domain.Screening(None),
                                  DESCRIBED, NOW)
        assert domain.cancel(replace(made, status="confirmed"), START).fee["amount"] == fee

    def test_the_deadline_is_counted_in_real_hours_across_a_clock_change(self):
        """London goes back an hour on 25 Oct 2026: 24 hours before 10:00 GMT on the
        26th is 10:00 UTC on the 25th, which is 10:00 local (GMT) too; the day before
        at 11:00 BST is 10:00 UTC. Hours, not wall-clock days."""
        start = datetime(2026, 10, 26, 10, 0, tzinfo=UTC)
        made = replace(booking(start=start), start=start)
        assert made.policy.free_cancellation_until == datetime(2026, 10, 25, 10, 0, tzinfo=UTC)

    def test_terms_stay_those_booked_under_when_the_studio_changes_them(self):
        """A studio's change reaches bookings through the holds made after it: the
        booking made before keeps its price and terms, the one made after has the new."""
        kept = booking()
        lenient = CancellationTerms(2, Decimal(10), Decimal(20))
        made_after = replace(domain.new_booking(
            "b2", hold(hold_id="h2", price="150.00", terms=lenient),
            Customer("Bo", "bo@example.com"), domain.Screening(intake()), DESCRIBED, NOW),
            status="confirmed")
        assert (kept.price["amount"], kept.terms) == ("120.00", TERMS)
        assert (made_after.price["amount"], made_after.terms) == ("150.00", lenient)
        three_hours_before = START - timedelta(hours=3)  # inside 24 h, outside 2 h
        assert domain.cancel(kept, three_hours_before).fee["amount"] == "60.00"
        assert domain.cancel(made_after, three_hours_before).fee["amount"] == "0.00"
        assert kept.policy.no_show_fee == Money(Decimal("120.00"), "GBP")
        assert made_after.policy.no_show_fee == Money(Decimal("30.00"), "GBP")


class TestReschedule:
    def test_the_new_hold_is_recorded_then_applied_with_a_new_sequence(self):
        moved = START + timedelta(days=1)
        started = domain.begin_reschedule(booking(), "h2")
        assert started.next_hold == "h2" and started.start == START
        done = domain.finish_reschedule(started, hold(moved, "h2", "t2"), NOW)
        assert (done.start, done.therapist, done.hold_id) == (moved, "t2", "h2")
        assert done.next_hold is None and done.sequence == 1
        assert done.context["therapist"] == {"id": "t2", "name": "Therapist"}

    def test_a_move_keeps_the_price_and_terms_and_the_deadline_follows_the_start(self):
        moved = START + timedelta(days=2)
        dearer = hold(moved, "h2", price="150.00", terms=CancellationTerms(1, Decimal(0),
                                                                          Decimal(0)))
        done = domain.finish_reschedule(domain.begin_reschedule(booking(), "h2"), dearer, NOW)
        assert (done.price, done.terms) == (booking().price, TERMS)
        assert done.policy.free_cancellation_until == moved - timedelta(hours=24)

    def test_the_gender_asked_for_is_kept_from_the_hold_and_through_a_move(self):
        made = domain.new_booking("b2", replace(hold(), therapist_gender="female"),
                                  Customer("Ada", "ada@example.com"),
                                  domain.Screening(intake()), DESCRIBED, NOW)
        moved = domain.finish_reschedule(domain.begin_reschedule(
            replace(made, status="confirmed"), "h2"), hold(START + timedelta(days=1), "h2"), NOW)
        assert (made.therapist_gender, moved.therapist_gender) == ("female", "female")

    def test_only_a_confirmed_booking_moves(self):
        with pytest.raises(InvalidTransition):
            domain.begin_reschedule(booking("cancelled"), "h2")

    def test_one_reschedule_at_a_time(self):
        with pytest.raises(InvalidTransition):
            domain.begin_reschedule(domain.begin_reschedule(booking(), "h2"), "h3")


class TestAbandon:
    def test_a_pending_booking_fails_and_its_hold_is_released(self):
        failed, release = domain.abandon(booking("pending"), NOW)
        assert (failed.status, release) == ("failed", "h1")

    def test_an_unfinished_reschedule_releases_only_the_new_hold(self):
        started = domain.begin_reschedule(booking(), "h2")
        undone, release = domain.abandon(started, NOW)
        assert (undone.status, undone.next_hold, undone.hold_id, release) == (
            "confirmed", None, "h1", "h2")

    def test_a_settled_booking_has_nothing_to_undo(self):
        assert domain.abandon(booking(), NOW) == (booking(), None)


class TestIdempotency:
    BODY = {"customer": {"name": "Ada", "email": "a@x.org"}, "start": "2027-03-10T10:00Z"}

    def test_the_fingerprint_ignores_key_order(self):
        reordered = {"start": self.BODY["start"], "customer": self.BODY["customer"]}
        assert domain.fingerprint(reordered) == domain.fingerprint(self.BODY)

    def test_a_first_request_is_new(self):
        assert domain.replay_decision(None, "f") is Replay.NEW

    def test_the_same_body_after_success_replays(self):
        record = {"fingerprint": "f", "booking": "b1"}
        assert domain.replay_decision(record, "f") is Replay.REPLAY

    def test_the_same_body_while_the_first_runs_is_in_progress(self):
        record = {"fingerprint": "f", "booking": None}
        assert domain.replay_decision(record, "f") is Replay.IN_PROGRESS

    def test_another_body_is_a_conflict_whatever_the_state(self):
        for booking_id in (None, "b1"):
            record = {"fingerprint": "f", "booking": booking_id}
            assert domain.replay_decision(record, "g") is Replay.CONFLICT


def test_erasure_keeps_a_bookings_facts_and_drops_the_person():
    made = replace(booking(), cancel_reason="Ada called, feeling unwell")
    erased = domain.erase_customer(made)
    assert erased.customer == Customer("erased", "erased", None)
    assert erased.screening.declared is None and erased.screening.outcome == "cleared"
    assert erased.cancel_reason == ""
    assert (erased.start, erased.price, erased.policy, erased.status) == (
        made.start, made.price, made.policy, made.status)
