"""The partner and admin HTTP routes against a real Redis."""

from __future__ import annotations

import pytest

from services.availability import queues
from services.availability.bootstrap import bootstrap
from tests.integration.availability.support import DAY, hold_params

SEARCH = f"/v1/slots?treatment=ashiatsu&duration=60&from={DAY}&to={DAY}"


@pytest.fixture
def rpc_now(infra, clock) -> dict:
    """RPC methods as the worker serves them beside the app, on the same clock."""
    return queues.methods(bootstrap(infra, clock))


def starts(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["start"][11:16] for item in response.json["items"]]


# Partner: studios, treatments, slots ----------------------------------------------

def test_a_partner_sees_only_its_own_studios(client, as_partner, as_admin):
    mine = client.get("/v1/studios", headers=as_partner).json["items"]
    assert [s["id"] for s in mine] == ["camden"]
    assert mine[0] == {"id": "camden", "name": "Triyoga Camden", "city": "london",
                       "timezone": "Europe/London", "address": "57 Jamestown Road, London NW1 7DB",
                       "booking_window": {"min_notice_min": 120, "max_advance_days": 60},
                       "cancellation": {"free_until_h": 24, "late_fee_percent": 50,
                                        "no_show_fee_percent": 100}}
    everyone = client.get("/v1/studios", headers=as_admin).json["items"]
    assert [s["id"] for s in everyone] == ["camden", "islington"]


def test_treatments_carry_prices_requirements_and_advice(client, as_partner):
    items = {t["id"]: t for t in client.get("/v1/treatments", headers=as_partner).json["items"]}
    ashiatsu = items["ashiatsu"]
    assert ashiatsu["prices"]["90"] == {"amount": "135.00", "currency": "GBP"}
    assert ashiatsu["requires"] == {"skill": "ashiatsu",
                                    "equipment": ["floor_mat", "overhead_bars"]}
    assert ashiatsu["no_food_before_min"] == 180 and ashiatsu["aftercare"]


def test_slots_are_listed_with_therapists_and_price(client, as_partner):
    response = client.get(SEARCH, headers=as_partner)
    first = response.json["items"][0]
    assert first == {"studio": "camden", "start": f"{DAY}T08:00:00+00:00",
                     "end": f"{DAY}T09:00:00+00:00", "therapists": ["maya"],
                     "price": {"amount": "95.00", "currency": "GBP"}}
    assert starts(response) == sorted(starts(response))


def test_a_partner_searching_everywhere_gets_only_its_studios(client, as_partner):
    response = client.get(SEARCH.replace("ashiatsu", "relaxation"), headers=as_partner)
    assert {item["studio"] for item in response.json["items"]} == {"camden"}


def test_a_held_slot_leaves_the_search(client, as_partner, rpc_now):
    rpc_now["hold"](hold_params())
    assert "10:00" not in starts(client.get(SEARCH + "&studio=camden", headers=as_partner))


@pytest.mark.parametrize("query", [
    "treatment=reiki&duration=60&from=2027-01-05&to=2027-01-05",
    SEARCH.removeprefix("/v1/slots?") + "&studio=nowhere",
    SEARCH.removeprefix("/v1/slots?") + "&studio=islington",  # not this partner's
    SEARCH.removeprefix("/v1/slots?") + "&therapist=nobody",
])
def test_unknown_or_out_of_scope_ids_are_404(client, as_partner, query):
    response = client.get(f"/v1/slots?{query}", headers=as_partner)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("query", "field"), [
    ("treatment=ashiatsu&duration=45&from=2027-01-05&to=2027-01-05", "duration"),
    ("treatment=ashiatsu&duration=sixty&from=2027-01-05&to=2027-01-05", "duration"),
    ("treatment=ashiatsu&duration=60&from=2027-01-05&to=2027-01-04", "to"),
    ("treatment=ashiatsu&duration=60&from=2027-01-01&to=2027-02-01", "to"),
    ("treatment=ashiatsu&duration=60&from=2027-13-01&to=2027-01-04", "from"),
    ("treatment=ashiatsu&duration=60&from=2027-01-05T25:00Z&to=2027-01-06", "from"),
    ("treatment=ashiatsu&duration=60&from=2027-01-05T10:00:00&to=2027-01-05T12:00:00", "from"),
    ("treatment=ashiatsu&duration=60&from=2027-01-05&to=2027-01-05T12:00:00Z", "to"),
    ("treatment=ashiatsu&duration=60&to=2027-01-05", "from"),
])
def test_bad_queries_are_422_naming_the_field(client, as_partner, query, field):
    response = client.get(f"/v1/slots?{query}", headers=as_partner)
    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert field in response.json["errors"]


def test_thirty_one_days_is_the_longest_search(client, as_partner):
    response = client.get("/v1/slots?treatment=ashiatsu&duration=60&from=2027-01-01"
                          "&to=2027-01-31&studio=camden", headers=as_partner)
    assert response.status_code == 200 and len(response.json["items"]) > 31 * 20


def test_instants_in_a_url_work_even_with_an_unescaped_plus(client, as_partner):
    response = client.get("/v1/slots?treatment=ashiatsu&duration=60&studio=camden"
                          f"&from={DAY}T10:00:00+00:00&to={DAY}T11:00:00%2B00:00",
                          headers=as_partner)
    assert starts(response) == ["10:00", "10:15", "10:30", "10:45"]


# Admin: catalog changes ------------------------------------------------------------

ROOM = {"studio": "camden", "name": "Treatment room 3", "equipment": ["massage_table"]}


def test_an_admin_adds_a_room_and_it_is_used(client, as_admin):
    response = client.put("/v1/rooms/camden-3", json=ROOM, headers=as_admin)
    assert response.status_code == 200
    assert response.json == {**ROOM, "id": "camden-3"}


def test_a_partner_cannot_change_the_catalog(client, as_partner):
    response = client.put("/v1/rooms/camden-3", json={"nonsense": True}, headers=as_partner)
    assert response.status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({**ROOM, "equipment": ["bars"]}, "equipment"),
    ({**ROOM, "studio": "nowhere"}, "studio"),
    ({**ROOM, "id": "camden-4"}, "id"),
    ({"studio": "camden"}, "name"),
])
def test_an_inconsistent_change_is_422_and_changes_nothing(client, as_admin, body, field):
    response = client.put("/v1/rooms/camden-3", json=body, headers=as_admin)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert client.put("/v1/rooms/camden-3", json=ROOM, headers=as_admin).status_code == 200


def test_studio_hours_that_leave_a_shift_outside_name_the_shift(client, as_admin):
    studio = {"name": "Islington", "timezone": "Europe/London",
              "opening_hours": {"sat": "12:00-18:00"}}
    response = client.put("/v1/studios/islington", json=studio, headers=as_admin)
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["therapists[jonas].shifts",
                                             "therapists[tom].shifts"]


def confirmed_booking(rpc_now, booking_id: str, **changes) -> dict:
    held = rpc_now["hold"](hold_params(**changes))
    rpc_now["confirm"]({"hold_id": held["hold_id"], "booking_id": booking_id})
    return held


def test_time_off_over_a_booking_is_409_listing_it_and_changes_nothing(client, as_admin,
                                                                       rpc_now):
    confirmed_booking(rpc_now, "bk-maya", therapist="maya")
    response = client.post("/v1/therapists/maya/time-off", headers=as_admin,
                           json={"start": DAY, "end": DAY, "reason": "course"})
    assert response.status_code == 409
    assert response.json["code"] == "conflicts_with_bookings"
    assert response.json["bookings"] == ["bk-maya"]
    assert "off" in response.json["conflicts"][0]["reason"]
    search = client.get(SEARCH + "&therapist=maya", headers=as_admin)
    assert "12:00" in starts(search)  # her day is still open


def test_a_live_hold_blocks_a_closure_too(client, as_admin, rpc_now):
    held = rpc_now["hold"](hold_params())
    response = client.post("/v1/studios/camden/closures", headers=as_admin,
                           json={"start": f"{DAY}T09:00:00Z", "end": f"{DAY}T12:00:00Z"})
    assert response.status_code == 409
    assert response.json["holds"] == [held["hold_id"]] and response.json["bookings"] == []


def test_removing_a_skill_a_booking_needs_is_409(client, as_admin, rpc_now):
    confirmed_booking(rpc_now, "bk-jonas", therapist="jonas", start=f"{DAY}T15:00:00+00:00")
    body = {"name": "Jonas Berg", "skills": ["deep_tissue"],
            "shifts": [{"studio": "camden", "days": ["tue"], "hours": "13:00-21:00"}]}
    response = client.put("/v1/therapists/jonas", json=body, headers=as_admin)
    assert response.status_code == 409 and response.json["bookings"] == ["bk-jonas"]


def test_changes_that_strand_nothing_are_applied(client, as_admin, rpc_now):
    confirmed_booking(rpc_now, "bk-maya", therapist="maya")
    response = client.post("/v1/therapists/maya/time-off", headers=as_admin,
                           json={"start": "2027-01-06", "end": "2027-01-08"})
    assert response.status_code == 201
    assert response.json["time_off"] == [{"start": "2027-01-06", "end": "2027-01-08",
                                          "reason": ""}]
    closure = client.post("/v1/studios/islington/closures", headers=as_admin,
                          json={"start": DAY, "end": DAY, "reason": "works"})
    assert closure.status_code == 201


def test_time_off_for_an_unknown_therapist_is_404(client, as_admin):
    response = client.post("/v1/therapists/nobody/time-off", headers=as_admin,
                           json={"start": DAY, "end": DAY})
    assert response.status_code == 404


def test_the_openapi_document_describes_every_route_with_schemas(client):
    document = client.get("/v1/openapi.json").json
    slots = document["paths"]["/v1/slots"]["get"]
    assert {p["name"] for p in slots["parameters"]} >= {"treatment", "duration", "from", "to",
                                                        "studio", "therapist"}
    assert "200" in slots["responses"]
    put_room = document["paths"]["/v1/rooms/{room_id}"]["put"]
    assert "requestBody" in put_room and "409" in put_room["responses"]


# Policies: booking windows, cancellation, add-ons, therapist gender ------------------

def test_treatments_show_their_add_ons_priced_per_length_and_their_windows(client, as_partner):
    items = {t["id"]: t for t in client.get("/v1/treatments", headers=as_partner).json["items"]}
    stretching, oil = items["ashiatsu"]["addons"]
    assert stretching == {"id": "resistance-stretching", "name": "Dynamic resistance stretching",
                          "extra_min": 15, "requires": {"skill": "resistance_stretching",
                                                        "equipment": []},
                          "prices": {"60": {"amount": "20.00", "currency": "GBP"},
                                     "90": {"amount": "25.00", "currency": "GBP"}}}
    assert oil["prices"]["90"] == {"amount": "8.00", "currency": "GBP"}
    assert items["ashiatsu"]["booking_windows"] == {
        "camden": {"min_notice_min": 120, "max_advance_days": 60}}  # the studios it sees


def test_a_search_with_an_add_on_returns_longer_dearer_slots_with_able_therapists(
        client, as_partner):
    plain = client.get(SEARCH + "&studio=camden", headers=as_partner).json["items"]
    stretched = client.get(SEARCH + "&studio=camden&addons=resistance-stretching",
                           headers=as_partner).json["items"]
    assert {"jonas", "maya"} <= {t for slot in plain for t in slot["therapists"]}
    assert stretched and all(slot["therapists"] == ["maya"] for slot in stretched)
    assert stretched[0]["end"] == f"{DAY}T09:15:00+00:00"  # 08:00 + 60 + 15 minutes
    assert stretched[0]["price"] == {"amount": "115.00", "currency": "GBP"}


def test_a_search_for_a_gender_offers_only_those_therapists(client, as_partner):
    found = client.get(SEARCH + "&studio=camden&therapist_gender=male",
                       headers=as_partner).json["items"]
    assert found and all(slot["therapists"] == ["jonas"] for slot in found)


@pytest.mark.parametrize("query", ["&addons=hot-stones", "&addons=aromatherapy-oil,nope",
                                   "&therapist_gender=robot"])
def test_unknown_add_ons_and_genders_are_422(client, as_partner, query):
    response = client.get(SEARCH + query, headers=as_partner)
    assert response.status_code == 422
    assert set(response.json["errors"]) <= {"addons", "therapist_gender"}


def test_nothing_inside_the_notice_or_beyond_the_horizon_is_offered(client, as_partner):
    """The tests' clock says 4 Jan 2027 09:00: 2 hours' notice, 60 days ahead."""
    today = client.get(SEARCH.replace(DAY, "2027-01-04") + "&studio=camden",
                       headers=as_partner).json["items"]
    assert today[0]["start"] == "2027-01-04T11:00:00+00:00"
    beyond = client.get(SEARCH.replace(DAY, "2027-03-06") + "&studio=camden",
                        headers=as_partner).json["items"]
    assert beyond == []


ADDON = {"name": "Hot stones", "extra_min": 10, "price": "12.00",
         "requires": {"equipment": ["massage_table"]}}


def test_an_admin_adds_an_add_on_and_a_treatment_allows_it(client, as_admin, as_partner):
    assert client.put("/v1/addons/hot-stones", json=ADDON, headers=as_admin).json == {
        **ADDON, "id": "hot-stones", "prices": {},
        "requires": {"skill": None, "equipment": ["massage_table"]}}
    treatment = client.get("/v1/treatments", headers=as_admin).json["items"][1]
    assert treatment["id"] == "relaxation"
    body = {k: v for k, v in treatment.items() if k not in ("addons", "booking_windows")}
    body |= {"addons": ["hot-stones"], "prices": {d: p["amount"]
                                                  for d, p in body["prices"].items()}}
    assert client.put("/v1/treatments/relaxation", json=body, headers=as_admin).status_code == 200
    found = client.get(SEARCH.replace("ashiatsu", "relaxation") + "&addons=hot-stones",
                       headers=as_partner).json["items"]
    assert found[0]["price"] == {"amount": "92.00", "currency": "GBP"}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/addons/x", {**ADDON, "price": "-1.00"}, "price"),
    ("/v1/addons/x", {**ADDON, "extra_min": 10_000}, "extra_min"),
    ("/v1/addons/x", {**ADDON, "requires": {"skill": "juggling"}}, "requires.skill"),
    ("/v1/addons/x", {**ADDON, "prices": {"60": "1.00"}}, "price"),
])
def test_bad_add_ons_are_422_and_nothing_is_written(client, as_admin, path, body, field):
    response = client.put(path, json=body, headers=as_admin)
    assert response.status_code == 422, response.json
    assert any(field in name for name in response.json["errors"]), response.json
    assert client.put("/v1/addons/x", json=ADDON, headers=as_admin).status_code == 200


@pytest.mark.parametrize("change", [
    {"cancellation": {"free_until_h": -5, "late_fee_percent": 50, "no_show_fee_percent": 100}},
    {"cancellation": {"free_until_h": 24, "late_fee_percent": 500, "no_show_fee_percent": 0}},
    {"booking_window": {"min_notice_min": 0, "max_advance_days": 0}},
    {"booking_window": {"min_notice_min": -10, "max_advance_days": 10}},
])
def test_absurd_studio_policies_are_422_and_change_nothing(client, as_admin, as_partner, change):
    studio = client.get("/v1/studios", headers=as_admin).json["items"][0]
    body = {k: v for k, v in studio.items() if k not in ("id", "city")}
    body["opening_hours"] = {"mon": "07:00-21:30", "tue": "07:00-21:30", "wed": "07:00-21:30",
                             "thu": "07:00-21:30", "fri": "07:00-21:30", "sat": "08:00-20:00",
                             "sun": "08:00-20:00"}
    response = client.put("/v1/studios/camden", json={**body, **change}, headers=as_admin)
    assert response.status_code == 422
    assert list(change)[0] in " ".join(response.json["errors"])
    assert client.get("/v1/studios", headers=as_partner).json["items"][0] == studio


# The front desk's day ---------------------------------------------------------------

def test_a_studio_day_lists_rooms_staff_hours_and_the_time_taken(client, as_partner, rpc_now):
    confirmed_booking(rpc_now, "bk-day", therapist="maya")
    held = rpc_now["hold"](hold_params(start=f"{DAY}T14:00:00+00:00"))
    response = client.get(f"/v1/studios/camden/schedule?date={DAY}", headers=as_partner)
    assert response.status_code == 200, response.json
    day = response.json
    assert day["date"] == DAY and day["studio"]["timezone"] == "Europe/London"
    assert day["day"] == {"start": f"{DAY}T00:00:00+00:00", "end": "2027-01-06T00:00:00+00:00"}
    assert [room["id"] for room in day["rooms"]] and all(
        room["studio"] == "camden" for room in day["rooms"])
    maya = next(t for t in day["therapists"] if t["id"] == "maya")
    assert maya["shifts"] == [{"start": f"{DAY}T08:00:00+00:00", "end": f"{DAY}T16:00:00+00:00"}]
    assert [(t["kind"], t["start"][11:16], t["therapist"]) for t in day["taken"]] == [
        ("booked", "10:00", "maya"), ("held", "14:00", held["therapist"]["id"])]
    assert day["taken"][0]["expires_at"] is None and day["taken"][1]["expires_at"]
    assert "bk-day" not in response.text  # whose booking it is, the desk learns from booking


def test_a_clock_change_day_is_23_hours_long(client, as_admin):
    day = client.get("/v1/studios/camden/schedule?date=2027-03-28", headers=as_admin).json
    assert day["day"] == {"start": "2027-03-28T00:00:00+00:00", "end": "2027-03-28T23:00:00+00:00"}


@pytest.mark.parametrize(("path", "status"), [
    (f"/v1/studios/islington/schedule?date={DAY}", 404),  # not this partner's studio
    (f"/v1/studios/nowhere/schedule?date={DAY}", 404),
    ("/v1/studios/camden/schedule?date=tuesday", 422),
    ("/v1/studios/camden/schedule", 422),
])
def test_a_studio_day_outside_the_keys_scope_or_badly_asked_is_refused(client, as_partner,
                                                                      path, status):
    response = client.get(path, headers=as_partner)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
