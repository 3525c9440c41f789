"""Booking as a partner integrates with it: holds, bookings, the lifecycle, scope."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from services.common.http import JsonFormatter
from tests.integration.booking.support import (
    CUSTOMER,
    INTAKE,
    START,
    assert_problem,
    direct_booking,
)


def event_types(ctx) -> list[str]:
    return [envelope.type for envelope in ctx.store.due_events()]


def reserved_starts(availability) -> list[str]:
    return sorted(datetime.fromtimestamp(r.start, UTC).isoformat()
                  for r in availability.reservations())


def test_a_direct_booking_is_confirmed_and_reserved(partner, availability, ctx):
    response = partner.book(direct_booking())
    assert response.status_code == 201
    booking = response.get_json()
    assert booking["status"] == "confirmed"
    assert (booking["start"], booking["end"]) == (START, "2027-03-10T11:00:00+00:00")
    assert booking["customer"] == CUSTOMER and booking["late_cancellation"] is False
    assert [r.booking_id for r in availability.reservations()] == [booking["id"]]
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json() == booking
    assert event_types(ctx) == ["booking.created"]


def test_the_created_event_carries_the_contract_payload(partner, availability, ctx):
    booking = partner.book(direct_booking()).get_json()
    [event] = ctx.store.due_events()
    assert (event.source, event.city) == ("booking", "london")
    assert event.payload["booking"] == {**booking, "sequence": 0}
    assert event.payload["context"]["therapist"] == {"id": "maya", "name": "Maya Okafor"}
    assert event.payload["context"]["treatment"]["no_food_before_min"] == 180
    assert event.payload["context"]["studio"]["timezone"] == "Europe/London"


def test_a_hold_can_be_booked_once(partner, availability):
    hold = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                           "duration": 90, "start": START})
    assert hold.status_code == 201
    held = hold.get_json()
    assert held["end"] == "2027-03-10T11:30:00+00:00" and held["price"]["currency"] == "GBP"
    body = {"hold": held["id"], "customer": CUSTOMER, "intake": INTAKE}
    booking = partner.book(body).get_json()
    assert (booking["status"], booking["duration"], booking["therapist"]) == (
        "confirmed", 90, held["therapist"])
    assert_problem(partner.book(body), 404, "not_found")
    assert len(availability.reservations()) == 1


def test_a_deleted_hold_frees_its_time(partner, availability):
    held = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                           "duration": 60, "start": START}).get_json()
    assert partner.delete(f"/v1/holds/{held['id']}").status_code == 204
    assert availability.reservations() == []
    assert_problem(partner.delete(f"/v1/holds/{held['id']}"), 404, "not_found")


def test_a_hold_given_back_while_it_is_booked_keeps_the_booking(partner, availability, app,
                                                                 monkeypatch):
    """DELETE read the hold just before a booking took it: the booking's time stays held."""
    held = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                           "duration": 60, "start": START}).get_json()
    store = app.extensions["spa"].store
    read_before_booking = store.get_hold(held["id"])
    booking = partner.book({"hold": held["id"], "customer": CUSTOMER, "intake": INTAKE})
    assert booking.status_code == 201
    monkeypatch.setattr(store, "get_hold", lambda hold_id: read_before_booking)
    assert_problem(partner.delete(f"/v1/holds/{held['id']}"), 409, "conflict")
    assert [r.booking_id for r in availability.reservations()] == [booking.get_json()["id"]]
    assert store.due_releases() == []


def test_a_taken_slot_is_a_409(partner, availability):
    assert partner.book(direct_booking()).status_code == 201
    assert_problem(partner.book(direct_booking()), 409, "slot_unavailable")
    assert len(availability.reservations()) == 1


def test_a_declared_contraindication_is_refused_with_alternatives_before_any_hold(
        partner, availability, ctx):
    response = partner.book(direct_booking(intake={**INTAKE, "pregnant": True}))
    problem = assert_problem(response, 422, "contraindicated")
    assert problem["reasons"] == ["pregnancy"]
    assert problem["alternatives"] == ["relaxation"]
    assert availability.reservations() == [] and event_types(ctx) == []


def test_a_treatment_with_contraindications_needs_an_intake(partner, availability):
    body = direct_booking()
    del body["intake"]
    assert_problem(partner.book(body), 422, "intake_required")
    assert availability.reservations() == []


def test_a_gentle_treatment_books_without_an_intake(partner, availability):
    body = direct_booking(treatment="relaxation")
    del body["intake"]
    assert partner.book(body).status_code == 201


def test_a_refused_confirm_fails_the_booking_releases_the_hold_and_says_nothing(
        partner, admin, availability, ctx):
    held = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                           "duration": 60, "start": START}).get_json()
    availability.clock.advance(hours=1)  # availability sees the hold expired; we do not
    body = {"hold": held["id"], "customer": CUSTOMER, "intake": INTAKE}
    assert_problem(partner.book(body), 409, "hold_expired")
    assert availability.reservations() == []
    assert event_types(ctx) == []
    assert admin.get("/v1/bookings").get_json()["items"] == []


def test_cancelling_frees_the_time_at_once_and_publishes(partner, availability, ctx):
    booking = partner.book(direct_booking()).get_json()
    response = partner.post(f"/v1/bookings/{booking['id']}/cancel", json={"reason": "flu"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.get_json()["late_cancellation"] is False  # 2027 is far ahead
    assert availability.reservations() == []
    cancelled = ctx.store.due_events()[-1]
    assert (cancelled.type, cancelled.payload["reason"]) == ("booking.cancelled", "flu")


def test_a_cancelled_booking_cannot_be_cancelled_or_completed(partner, availability):
    booking = partner.book(direct_booking()).get_json()
    partner.post(f"/v1/bookings/{booking['id']}/cancel", json={})
    for action in ("cancel", "complete", "no-show", "reschedule"):
        body = {"start": "2027-03-11T10:00:00+00:00"} if action == "reschedule" else {}
        response = partner.post(f"/v1/bookings/{booking['id']}/{action}", json=body)
        assert_problem(response, 409, "invalid_transition")


@pytest.mark.parametrize("action, status, event", [("complete", "completed",
                                                     "booking.completed"),
                                                    ("no-show", "no_show", "booking.no_show")])
def test_the_studio_partner_records_how_a_visit_ended(partner, availability, ctx, action, status,
                                                      event):
    booking = partner.book(direct_booking()).get_json()
    response = partner.post(f"/v1/bookings/{booking['id']}/{action}")
    assert response.get_json()["status"] == status
    assert event_types(ctx) == ["booking.created", event]


def test_rescheduling_moves_the_booking_and_frees_the_old_time(partner, availability, ctx):
    booking = partner.book(direct_booking()).get_json()
    later = "2027-03-11T15:00:00+00:00"
    moved = partner.post(f"/v1/bookings/{booking['id']}/reschedule", json={"start": later})
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["id"], moved.get_json()["start"]) == (booking["id"], later)
    assert reserved_starts(availability) == [later]
    event = ctx.store.due_events()[-1]
    assert event.type == "booking.rescheduled" and event.payload["booking"]["sequence"] == 1
    assert event.payload["previous"] == {"start": START, "end": booking["end"]}


def test_rescheduling_into_a_taken_time_changes_nothing(partner, availability, ctx):
    taken = "2027-03-11T15:00:00+00:00"
    partner.book(direct_booking(taken, therapist="jonas"))
    booking = partner.book(direct_booking(therapist="maya")).get_json()
    response = partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                            json={"start": taken, "therapist": "jonas"})
    assert_problem(response, 409, "slot_unavailable")
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json() == booking
    assert reserved_starts(availability) == [START, taken]
    assert event_types(ctx) == ["booking.created", "booking.created"]


class TestScope:
    def test_another_studios_partner_sees_nothing(self, partner, other_partner, availability):
        booking = partner.book(direct_booking()).get_json()
        path = f"/v1/bookings/{booking['id']}"
        assert_problem(other_partner.get(path), 404, "not_found")
        assert_problem(other_partner.post(f"{path}/cancel", json={}), 404, "not_found")
        assert_problem(other_partner.post(f"{path}/complete"), 404, "not_found")
        assert other_partner.get("/v1/bookings").get_json()["items"] == []
        assert other_partner.get("/v1/bookings?studio=camden").get_json()["items"] == []
        assert partner.get(path).get_json()["status"] == "confirmed"

    def test_a_partner_cannot_hold_or_book_at_another_studio(self, other_partner, availability):
        assert_problem(other_partner.book(direct_booking()), 404, "not_found")
        assert_problem(other_partner.post("/v1/holds", json={
            "studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": START}),
            404, "not_found")
        assert availability.reservations() == []

    def test_another_partners_hold_is_unknown(self, partner, other_partner, availability):
        held = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                               "duration": 60, "start": START}).get_json()
        body = {"hold": held["id"], "customer": CUSTOMER, "intake": INTAKE}
        assert_problem(other_partner.book(body), 404, "not_found")
        assert_problem(other_partner.delete(f"/v1/holds/{held['id']}"), 404, "not_found")

    def test_the_admin_sees_every_booking(self, partner, admin, availability):
        booking = partner.book(direct_booking()).get_json()
        assert admin.get(f"/v1/bookings/{booking['id']}").status_code == 200


class TestListing:
    def test_pages_follow_the_start_time_with_a_cursor(self, partner, availability):
        starts = [f"2027-04-0{day}T10:00:00+00:00" for day in (5, 1, 6, 2, 3)]
        for start in starts:
            partner.book(direct_booking(start))
        seen, cursor = [], None
        while True:
            query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = partner.get(f"/v1/bookings{query}").get_json()
            seen += [item["start"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(starts)

    def test_filters_by_time_range_and_status(self, partner, availability):
        ids = [partner.book(direct_booking(f"2027-04-0{d}T10:00:00+00:00")).get_json()["id"]
               for d in (1, 2, 3)]
        partner.post(f"/v1/bookings/{ids[1]}/cancel", json={})
        window = "from=2027-04-02T00:00:00Z&to=2027-04-04T00:00:00Z"
        in_window = partner.get(f"/v1/bookings?{window}").get_json()["items"]
        assert [b["id"] for b in in_window] == ids[1:]
        confirmed = partner.get(f"/v1/bookings?{window}&status=confirmed").get_json()
        assert [b["id"] for b in confirmed["items"]] == [ids[2]]

    def test_a_rescheduled_booking_is_listed_at_its_new_time(self, partner, availability):
        booking = partner.book(direct_booking("2027-04-01T10:00:00+00:00")).get_json()
        partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                     json={"start": "2027-05-01T10:00:00+00:00"})
        april = partner.get("/v1/bookings?to=2027-05-01T00:00:00Z").get_json()["items"]
        may = partner.get("/v1/bookings?from=2027-05-01T00:00:00Z").get_json()["items"]
        assert (april, [b["id"] for b in may]) == ([], [booking["id"]])


def test_the_openapi_document_describes_every_route_body_and_answer(app):
    document = app.test_client().get("/v1/openapi.json").get_json()
    paths = document["paths"]
    create = paths["/v1/bookings"]["post"]
    assert {"201", "409", "422", "503"} <= set(create["responses"])
    assert create["parameters"][0]["name"] == "Idempotency-Key"
    assert create["requestBody"]["content"]["application/json"]["schema"]
    assert {"from", "to", "status", "limit", "cursor"} <= {
        p["name"] for p in paths["/v1/bookings"]["get"]["parameters"]}
    for action in ("cancel", "reschedule", "complete", "no-show"):
        assert "200" in paths[f"/v1/bookings/{{booking_id}}/{action}"]["post"]["responses"]
    assert "204" in paths["/v1/holds/{hold_id}"]["delete"]["responses"]
    schemas = document["components"]["schemas"]
    assert {"Booking", "BookingRequest", "Customer", "Intake", "Hold", "Problem"} <= set(schemas)


def test_client_data_and_intake_never_reach_the_logs(partner, availability, caplog):
    caplog.set_level(logging.DEBUG)
    secret = {"name": "Zelda Secretname", "email": "zelda.secret@example.com",
              "phone": "+44 7700 900123"}
    notes = "confidential back injury notes"
    booking = partner.book(direct_booking(customer=secret, intake={**INTAKE, "notes": notes}))
    partner.book(direct_booking(customer=secret, intake={**INTAKE, "pregnant": True}))
    partner.book(direct_booking(customer={**secret, "email": "not-an-address"}))
    partner.post(f"/v1/bookings/{booking.get_json()['id']}/cancel", json={"reason": notes})
    client = booking.get_json()["client"]
    preference = "secret preference: no talking"
    partner.client.patch(f"/v1/clients/{client}", headers=partner.headers,
                         json={"phone": "+44 7700 900999", "preferences": {"notes": preference}})
    partner.post(f"/v1/clients/{client}/intake", json={**INTAKE, "notes": notes})
    partner.post(f"/v1/clients/{client}/intake", json={**INTAKE, "pregnant": "maybe"})
    partner.post("/v1/clients", json={**secret, "phone": "not a phone"})
    partner.get("/v1/clients", query_string={"email": secret["email"]})
    partner.delete(f"/v1/clients/{client}?cancel_future=true")
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "request" in logged  # the access log did run
    for private in (*secret.values(), notes, preference, "900999", "maybe"):
        assert private not in logged
