"""Retries, concurrent duplicates and malformed input: the answer is always a clear
status, and nothing is booked twice or half-written."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.common.auth import KeyStore
from services.common.redis import key
from tests.integration.booking.support import (
    CUSTOMER,
    INTAKE,
    START,
    Api,
    assert_problem,
    direct_booking,
)


def booking_keys(redis_client) -> list[str]:
    return redis_client.keys(key("london", "booking", "*"))


class TestIdempotency:
    def test_a_replay_answers_the_same_booking_and_books_nothing_new(self, partner,
                                                                     availability, ctx):
        first = partner.book(direct_booking(), key="retry-1")
        again = partner.book(direct_booking(), key="retry-1")
        assert (again.status_code, again.get_json()) == (201, first.get_json())
        assert len(availability.reservations()) == 1
        assert [e.type for e in ctx.store.due_events()] == ["booking.created"]

    def test_the_same_key_with_another_body_is_a_conflict(self, partner, availability):
        partner.book(direct_booking(), key="retry-2")
        other = direct_booking("2027-03-10T12:00:00+00:00")
        assert_problem(partner.book(other, key="retry-2"), 409, "idempotency_conflict")
        assert len(availability.reservations()) == 1

    def test_keys_are_scoped_per_api_key(self, app, partner, redis_client, settings, availability):
        second_key = KeyStore(redis_client, settings.city).create("desk 2", "partner",
                                                                  ["camden"])
        first = partner.book(direct_booking(), key="shared")
        second = Api(app, second_key).book(direct_booking("2027-03-10T12:00:00+00:00"),
                                           key="shared")
        assert second.status_code == 201
        assert second.get_json()["id"] != first.get_json()["id"]

    def test_a_refused_request_can_be_retried_with_its_key(self, partner, availability):
        blocker = partner.book(direct_booking()).get_json()
        assert_problem(partner.book(direct_booking(), key="retry-3"), 409, "slot_unavailable")
        partner.post(f"/v1/bookings/{blocker['id']}/cancel", json={})
        assert partner.book(direct_booking(), key="retry-3").status_code == 201

    def test_concurrent_duplicates_book_once(self, app, api_keys, availability):
        def attempt(_):
            return Api(app, api_keys["partner"]).book(direct_booking(), key="burst")

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(attempt, range(8)))
        booked = {r.get_json()["id"] for r in responses if r.status_code == 201}
        refused = [r.get_json()["code"] for r in responses if r.status_code != 201]
        assert len(booked) == 1
        assert set(refused) <= {"idempotency_in_progress"}
        assert len(availability.reservations()) == 1

    def test_the_key_is_required(self, partner, availability, redis_client):
        response = partner.post("/v1/bookings", json=direct_booking())
        problem = assert_problem(response, 422, "validation_error")
        assert "Idempotency-Key" in problem["errors"]
        assert availability.reservations() == [] and booking_keys(redis_client) == []


def long_text(size: int) -> str:
    return "x" * size


BAD_BODIES = {
    "duration as text": direct_booking(duration="60"),
    "flag as text": direct_booking(intake={**INTAKE, "pregnant": "yes"}),
    "customer as text": direct_booking(customer="Ada"),
    "bad email": direct_booking(customer={**CUSTOMER, "email": "ada-at-example"}),
    "unknown field": direct_booking(colour="red"),
    "unknown intake field": direct_booking(intake={**INTAKE, "allergies": "nuts"}),
    "no offset": direct_booking(start="2027-03-10T10:00:00"),
    "no such day": direct_booking(start="2027-02-30T10:00:00+00:00"),
    "not a date": direct_booking(start="tomorrow at ten"),
    "year one": direct_booking(start="0001-01-01T00:00:00+01:00"),
    "pressure unknown": direct_booking(intake={**INTAKE, "pressure": "extreme"}),
    "hold and slot": {**direct_booking(), "hold": "h_x"},
    "neither hold nor slot": {"customer": CUSTOMER, "intake": INTAKE},
    "a list": [direct_booking()],
    "huge notes": direct_booking(intake={**INTAKE, "notes": long_text(3000)}),
}


class TestBadInput:
    @pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
    def test_a_malformed_booking_is_a_422_and_writes_nothing(self, partner, availability, body,
                                                             redis_client):
        assert_problem(partner.book(body), 422, "validation_error")
        assert availability.reservations() == [] and booking_keys(redis_client) == []

    def test_a_body_over_64_kb_is_a_413(self, partner, availability, redis_client):
        body = direct_booking(intake={**INTAKE, "notes": long_text(70_000)})
        assert_problem(partner.book(body), 413, "payload_too_large")
        assert booking_keys(redis_client) == []

    def test_broken_json_is_a_400(self, partner, availability, redis_client):
        response = partner.post("/v1/bookings", data="{not json", headers={
            "Content-Type": "application/json", "Idempotency-Key": "k"})
        assert_problem(response, 400, "bad_request")
        assert booking_keys(redis_client) == []

    @pytest.mark.parametrize("path", ["/v1/bookings/bk_nope", "/v1/bookings/../../etc"])
    def test_an_unknown_booking_is_a_404(self, partner, path):
        assert partner.get(path).status_code == 404

    @pytest.mark.parametrize("action", ["cancel", "complete", "no-show", "reschedule"])
    def test_acting_on_an_unknown_booking_is_a_404(self, partner, action):
        body = {"start": START} if action == "reschedule" else {}
        response = partner.post(f"/v1/bookings/bk_nope/{action}", json=body)
        assert_problem(response, 404, "not_found")

    def test_an_unknown_hold_is_a_404(self, partner, availability, redis_client):
        body = {"hold": "h_nope", "customer": CUSTOMER, "intake": INTAKE}
        assert_problem(partner.book(body), 404, "not_found")
        assert_problem(partner.delete("/v1/holds/h_nope"), 404, "not_found")

    @pytest.mark.parametrize("changes, status, code", [
        ({"studio": "atlantis"}, 404, "not_found"),
        ({"treatment": "hot-stones"}, 404, "not_found"),
        ({"therapist": "nobody"}, 404, "not_found"),
        ({"duration": 45}, 422, "validation_error"),
    ])
    def test_unknown_catalog_ids_are_refused_by_availability(self, admin, availability, changes,
                                                             status, code, redis_client):
        assert_problem(admin.book(direct_booking(**changes)), status, code)
        assert availability.reservations() == []
        assert not redis_client.keys(key("london", "booking", "booking", "*"))

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "from=yesterday",
                                       "status=lost", "cursor=nonsense", "to=2027-13-01"])
    def test_a_bad_listing_query_is_a_422(self, partner, query):
        assert_problem(partner.get(f"/v1/bookings?{query}"), 422, "validation_error")

    def test_a_bad_reschedule_is_a_422_and_changes_nothing(self, partner, availability):
        booking = partner.book(direct_booking()).get_json()
        for body in ({}, {"start": "soon"}, {"start": START, "room": "r1"}):
            response = partner.post(f"/v1/bookings/{booking['id']}/reschedule", json=body)
            assert_problem(response, 422, "validation_error")
        assert partner.get(f"/v1/bookings/{booking['id']}").get_json() == booking
