"""The partner and admin HTTP routes against a real Redis."""

from __future__ import annotations

import pytest

from services.availability import queues
from services.availability.bootstrap import bootstrap
from tests.helpers import bearer
from tests.integration.availability.support import DAY, hold_params

SEARCH = f"/v1/slots?treatment=ashiatsu&duration=60&from={DAY}&to={DAY}"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def as_admin(api_keys):
    return bearer(api_keys["admin"])


@pytest.fixture
def as_partner(api_keys):
    return bearer(api_keys["partner"])  # camden only


@pytest.fixture
def rpc_now(infra) -> dict:
    """RPC methods on real time, as the worker runs beside the app."""
    return queues.methods(bootstrap(infra))


def starts(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["start"][11:16] for item in response.json["items"]]


# Partner: studios, treatments, slots ----------------------------------------------

def test_a_partner_sees_only_its_own_studios(client, as_partner, as_admin):
    mine = client.get("/v1/studios", headers=as_partner).json["items"]
    assert [s["id"] for s in mine] == ["camden"]
    assert mine[0] == {"id": "camden", "name": "Triyoga Camden", "city": "london",
                       "timezone": "Europe/London", "address": "57 Jamestown Road, London NW1 7DB"}
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
