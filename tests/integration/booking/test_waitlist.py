"""The waitlist through booking's API and worker handlers, against real availability:
joining (screened as a booking), offers made in join order when time frees, accept,
decline, lapse, leave, and every freed time offered to exactly one entry under a
burst handled by several workers at once."""

from __future__ import annotations

import threading

import pytest

from services.availability.handlers import reservations
from services.booking.commands import FirstFree
from services.booking.handlers import waitlist
from tests.integration.booking.support import (
    CUSTOMER,
    INTAKE,
    START,
    TEN,
    Api,
    assert_problem,
    direct_booking,
    entry,
    full_at_ten,
    join,
    joined,
    run_news,
)


@pytest.fixture
def partner(app, api_keys, availability) -> Api:
    return Api(app, api_keys["partner"])


# joining


def test_joining_answers_with_a_waiting_entry(partner):
    entry_ = joined(partner, "Ada")
    assert entry_["status"] == "waiting" and entry_["offer"] is None
    assert entry_["windows"] == [TEN] and entry_["studios"] == ["camden"]
    again = join(partner, "Ada")  # the same Idempotency-Key: the same entry
    assert again.status_code == 201 and again.get_json()["id"] == entry_["id"]


@pytest.mark.parametrize("changes, status, code", [
    ({"intake": {**INTAKE, "pregnant": True}}, 422, "contraindicated"),
    ({"windows": [{"from": "2027-03-01T10:00:00+00:00", "to": "2027-03-01T11:00:00+00:00"}]},
     422, "validation_error"),
    ({"windows": [{"from": "2027-06-01T10:00:00+00:00", "to": "2027-06-01T11:00:00+00:00"}]},
     422, "outside_booking_window"),
    ({"duration": 45}, 422, "validation_error"),
    ({"studio": "islington"}, 404, "not_found"),
    ({"studios": ["camden"]}, 422, "validation_error"),
    ({"windows": [TEN] * 11}, 422, "validation_error"),
])
def test_joining_is_refused_as_a_booking_would_be(partner, changes, status, code):
    assert_problem(join(partner, "Grace", **changes), status, code)
    assert partner.get("/v1/waitlist").get_json()["items"] == []


def test_joining_without_any_intake_asks_for_it(partner):
    response = partner.post("/v1/waitlist", headers={"Idempotency-Key": "no-intake"}, json={
        "studio": "camden", "treatment": "ashiatsu", "duration": 60, "windows": [TEN],
        "customer": {**CUSTOMER, "email": "nointake@example.com"}})
    assert assert_problem(response, 422, "intake_required")["reason"] == "missing"


# offers


def test_freed_time_is_offered_to_the_first_in_line_then_the_next(partner, ctx, availability):
    booked = full_at_ten(partner)
    first, second = joined(partner, "Ada"), joined(partner, "Grace")
    run_news(ctx, availability)
    assert entry(partner, first["id"])["status"] == "waiting"  # nothing free yet
    assert partner.post(f"/v1/bookings/{booked['id']}/cancel", json={}).status_code == 200
    run_news(ctx, availability)
    offered = entry(partner, first["id"])
    assert offered["status"] == "offered" and entry(partner, second["id"])["status"] == \
        "waiting"
    assert (offered["offer"]["start"], offered["offer"]["therapist"]) == (START, "maya")

    declined = partner.post(f"/v1/waitlist/{first['id']}/decline")
    assert declined.status_code == 200 and declined.get_json()["status"] == "waiting"
    run_news(ctx, availability)
    assert entry(partner, second["id"])["status"] == "offered"
    assert entry(partner, first["id"])["status"] == "waiting"  # never offered 10:00 again

    accepted = partner.post(f"/v1/waitlist/{second['id']}/accept",
                            headers={"Idempotency-Key": "accept-grace"})
    assert accepted.status_code == 201, accepted.get_json()
    booking = accepted.get_json()
    assert (booking["status"], booking["start"]) == ("confirmed", START)
    assert booking["customer"]["email"] == "grace@example.com"
    after = entry(partner, second["id"])
    assert (after["status"], after["booking"]) == ("booked", booking["id"])
    replay = partner.post(f"/v1/waitlist/{second['id']}/accept",
                          headers={"Idempotency-Key": "accept-grace"})
    assert replay.status_code == 201 and replay.get_json()["id"] == booking["id"]
    assert [r.booking_id for r in availability.reservations()] == [booking["id"]]


def test_an_offer_that_lapses_goes_to_the_next_and_the_entry_keeps_its_place(
        partner, ctx, clock, availability):
    booked = full_at_ten(partner)
    first, second = joined(partner, "Ada"), joined(partner, "Grace")
    partner.post(f"/v1/bookings/{booked['id']}/cancel", json={})
    run_news(ctx, availability)
    clock.advance(minutes=16)
    assert waitlist.lapse_offers(ctx) == 1
    assert "waitlist.offer_expired" in run_news(ctx, availability)
    assert entry(partner, first["id"])["status"] == "waiting"
    assert entry(partner, second["id"])["status"] == "offered"


def test_leaving_with_an_offer_passes_it_on(partner, ctx, availability):
    booked = full_at_ten(partner)
    first, second = joined(partner, "Ada"), joined(partner, "Grace")
    partner.post(f"/v1/bookings/{booked['id']}/cancel", json={})
    run_news(ctx, availability)
    assert partner.delete(f"/v1/waitlist/{first['id']}").status_code == 204
    run_news(ctx, availability)
    assert entry(partner, first["id"])["status"] == "left"
    assert entry(partner, second["id"])["status"] == "offered"


def test_time_already_free_is_offered_on_joining(partner, ctx, availability):
    waiting = joined(partner, "Ada")
    run_news(ctx, availability)
    assert entry(partner, waiting["id"])["offer"]["start"] == START


def test_entries_whose_windows_passed_expire(partner, ctx, clock, availability):
    full_at_ten(partner)
    waiting = joined(partner, "Ada")
    run_news(ctx, availability)
    clock.advance(days=6)
    assert waitlist.expire_entries(ctx) == 1
    assert entry(partner, waiting["id"])["status"] == "expired"


def test_an_offer_that_was_not_offered_cannot_be_accepted_or_declined(partner):
    waiting = joined(partner, "Ada")
    accept = partner.post(f"/v1/waitlist/{waiting['id']}/accept",
                          headers={"Idempotency-Key": "too-soon"})
    assert_problem(accept, 409, "invalid_transition")
    assert_problem(partner.post(f"/v1/waitlist/{waiting['id']}/decline"), 409,
                   "invalid_transition")


def test_another_partner_sees_none_of_the_entries(partner, other_partner):
    waiting = joined(partner, "Ada")
    assert_problem(other_partner.get(f"/v1/waitlist/{waiting['id']}"), 404, "not_found")
    assert other_partner.get("/v1/waitlist").get_json()["items"] == []
    assert [e["id"] for e in partner.get("/v1/waitlist").get_json()["items"]] == \
        [waiting["id"]]


def test_an_offer_retried_after_a_crash_finds_the_hold_it_made(partner, ctx, availability):
    """The worker died after holding the time and before saving the offer: the news
    comes again, and the same hold is found, not a second one made."""
    waiting = ctx.waitlist.get(joined(partner, "Ada")["id"])
    orphan = ctx.availability.hold_first(
        FirstFree("camden", "ashiatsu", 60, waiting.windows),
        waiting.next_hold_id(), 900)
    waitlist.offer_freed_time(ctx, "camden")
    assert entry(partner, waiting.id)["offer"]["hold"] == orphan.id
    assert len(availability.reservations()) == 1


def test_twenty_freed_times_go_to_the_first_twenty_of_fifty_once_each(partner, ctx,
                                                                      availability):
    """Fifty entries wait for any time on two full days; twenty bookings are cancelled
    and four workers handle the news at once: each freed time is offered to exactly
    one entry, no entry twice, and the first twenty in line get them."""
    days = ["2027-03-10", "2027-03-11"]
    starts = [f"{day}T{8 + (m // 60):02d}:{m % 60:02d}:00+00:00" for day in days
              for m in range(0, 12 * 60, 75)][:20]
    booked = [partner.book(direct_booking(s, customer={**CUSTOMER, "email": f"b{i}@ex.com"}))
              .get_json() for i, s in enumerate(starts)]
    assert all("id" in b for b in booked), booked
    windows = [{"from": f"{day}T08:00:00+00:00", "to": f"{day}T21:00:00+00:00"}
               for day in days]
    line = [joined(partner, f"W{i:02d}", windows)["id"] for i in range(50)]
    run_news(ctx, availability)
    for b in booked:
        assert partner.post(f"/v1/bookings/{b['id']}/cancel", json={}).status_code == 200
    news = [reservations.freed_envelope(availability.ctx, "camden", raw, when)
            for raw, when in availability.ctx.store.freed("camden")]
    assert len(news) == 20
    share = [news[i::4] for i in range(4)]
    workers = [threading.Thread(target=lambda part=part: [waitlist.on_time_freed(ctx, e)
                                                          for e in part]) for part in share]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    states = [entry(partner, i) for i in line]
    offered = [s for s in states if s["status"] == "offered"]
    assert [s["id"] for s in offered] == line[:20], sorted(s["offer"]["start"] for s in offered)
    assert sorted(s["offer"]["start"] for s in offered) == sorted(starts)
    assert len(availability.reservations()) == 20
    held = {r.hold_id for r in availability.reservations()}
    assert held == {s["offer"]["hold"] for s in offered}

