"""Clients on record through the booking API, against real availability: profiles a
partner alone sees, preferences that fill in a request, intake on record (and when it
is too old), a client's history, erasure, retention and the data key."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from services.booking.app import create_app
from services.booking.handlers import jobs
from services.booking.store import BookingStore
from services.common.errors import BadRequest, Invalid, NotFound
from services.common.redis import key
from services.common.rpc import RpcServer
from services.common.vault import Vault, VaultError, new_key
from tests.helpers import running_worker
from tests.integration.booking.support import (
    CUSTOMER,
    INTAKE,
    START,
    Api,
    assert_problem,
    direct_booking,
)

ANSWERS = {k: v for k, v in INTAKE.items() if k != "pressure"}
ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}


@pytest.fixture
def partner(app, api_keys, availability) -> Api:
    return Api(app, api_keys["partner"])


def new_client(api: Api, **changes) -> dict:
    response = api.post("/v1/clients", json={**ADA, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def record_intake(api: Api, client_id: str, **answers) -> dict:
    response = api.post(f"/v1/clients/{client_id}/intake", json={**ANSWERS, **answers})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def by_client(client_id: str, start: str = START, **changes) -> dict:
    body = {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            "client": client_id}
    return {**body, **changes}


def booked(api: Api, body: dict) -> dict:
    response = api.book(body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(api: Api, path: str, body: dict):
    return api.client.patch(path, json=body, headers=api.headers)


# profiles


def test_a_client_is_created_read_and_changed_by_its_partner(partner):
    client = new_client(partner, preferences={"pressure": "deep", "notes": "left shoulder"})
    assert client["id"].startswith("cl_") and client["name"] == "Ada Lovelace"
    assert partner.get(f"/v1/clients/{client['id']}").get_json() == client
    changed = patch(partner, f"/v1/clients/{client['id']}",
                    {"phone": None, "preferences": {"therapist": "jonas"}})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["phone"] is None
    assert changed.get_json()["preferences"] == {
        "pressure": "deep", "therapist": "jonas", "therapist_gender": None,
        "notes": "left shoulder"}


def test_the_same_email_answers_with_the_client_already_on_record(partner):
    first = new_client(partner)
    again = partner.post("/v1/clients", json={**ADA, "name": "Someone Else",
                                              "email": "ADA@example.com"})
    assert again.status_code == 200 and again.get_json() == first


def test_clients_are_found_by_exact_email_among_the_partners_own(partner, other_partner):
    client = new_client(partner)
    new_client(other_partner)
    found = partner.get("/v1/clients", query_string={"email": "ada@example.com"}).get_json()
    assert found == {"items": [client]}
    assert partner.get("/v1/clients", query_string={"email": "ada@example"}).get_json() == \
        {"items": []}
    assert_problem(partner.get("/v1/clients"), 422, "validation_error")


def test_another_partner_sees_none_of_a_clients_records_and_admin_sees_all(
        partner, other_partner, admin):
    client = new_client(partner)["id"]
    booked(partner, direct_booking())  # Ada's booking, by email
    for path in (f"/v1/clients/{client}", f"/v1/clients/{client}/bookings"):
        assert_problem(other_partner.get(path), 404, "not_found")
        assert admin.get(path).status_code == 200
    assert_problem(other_partner.post(f"/v1/clients/{client}/intake", json=ANSWERS), 404,
                   "not_found")
    assert_problem(patch(other_partner, f"/v1/clients/{client}", {"name": "X"}), 404,
                   "not_found")
    assert_problem(other_partner.delete(f"/v1/clients/{client}"), 404, "not_found")
    assert partner.get(f"/v1/clients/{client}").status_code == 200


def test_a_change_with_nothing_to_change_is_refused(partner):
    client = new_client(partner)
    assert_problem(patch(partner, f"/v1/clients/{client['id']}", {}), 422, "validation_error")
    bare = partner.client.patch(f"/v1/clients/{client['id']}", headers=partner.headers)
    assert_problem(bare, 422, "validation_error")


def test_changing_to_an_email_another_client_has_is_a_409(partner):
    new_client(partner)
    grace = new_client(partner, name="Grace Hopper", email="grace@example.com")
    response = patch(partner, f"/v1/clients/{grace['id']}", {"email": "ada@example.com"})
    assert_problem(response, 409, "conflict")
    assert partner.get(f"/v1/clients/{grace['id']}").get_json()["email"] == "grace@example.com"


@pytest.mark.parametrize("body, field", [
    ({"email": "ada@example.com"}, "name"),
    ({**ADA, "email": "not-an-address"}, "email"),
    ({**ADA, "preferences": {"pressure": "crushing"}}, "preferences"),
    ({**ADA, "preferences": {"therapist_gender": "any"}}, "preferences"),
    ({**ADA, "shoe_size": 42}, "shoe_size"),
])
def test_a_bad_client_is_refused_by_field(partner, body, field):
    problem = assert_problem(partner.post("/v1/clients", json=body), 422, "validation_error")
    assert field in problem["errors"]


# booking a client on record


def test_a_client_with_intake_on_record_is_booked_without_answering_again(partner):
    client = new_client(partner, preferences={"pressure": "firm"})
    record = record_intake(partner, client["id"])
    assert record["recorded_at"].startswith("2027-03-05T") and record["pregnant"] is False
    booking = booked(partner, by_client(client["id"]))
    assert booking["client"] == client["id"]
    assert booking["customer"] == ADA
    assert booking["screening"]["outcome"] == "cleared"
    history = partner.get(f"/v1/clients/{client['id']}/bookings").get_json()
    assert [b["id"] for b in history["items"]] == [booking["id"]]


def test_without_intake_on_record_the_booking_asks_for_it(partner, availability):
    client = new_client(partner)
    problem = assert_problem(partner.book(by_client(client["id"])), 422, "intake_required")
    assert problem["reason"] == "missing"
    assert availability.reservations() == []


def test_an_intake_older_than_the_validity_period_is_expired(partner, clock, availability):
    client = new_client(partner)
    record_intake(partner, client["id"])
    clock.advance(days=31)  # booking's clock only: availability still sees 5 March
    problem = assert_problem(partner.book(by_client(client["id"])), 422, "intake_required")
    assert problem["reason"] == "expired" and "30 days" in problem["detail"]
    record_intake(partner, client["id"])
    assert booked(partner, by_client(client["id"]))["client"] == client["id"]


def test_a_pregnancy_on_record_is_contraindicated_with_alternatives(partner, availability):
    client = new_client(partner)
    record_intake(partner, client["id"], pregnant=True)
    problem = assert_problem(partner.book(by_client(client["id"])), 422, "contraindicated")
    assert problem["reasons"] == ["pregnancy"] and problem["alternatives"] == ["relaxation"]
    assert availability.reservations() == []


def test_a_reschedule_is_screened_against_the_latest_intake(partner, availability):
    client = new_client(partner)
    record_intake(partner, client["id"])
    booking = booked(partner, by_client(client["id"]))
    record_intake(partner, client["id"], recent_injury=True)
    response = partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                            json={"start": "2027-03-10T12:00:00+00:00"})
    assert_problem(response, 422, "contraindicated")
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json()["start"] == booking["start"]


def test_an_inline_customer_becomes_the_partners_client_and_is_reused(partner):
    first = booked(partner, direct_booking())
    second = booked(partner, direct_booking("2027-03-11T10:00:00+00:00",
                                            customer={**CUSTOMER, "email": "ADA@example.com"}))
    assert first["client"] and second["client"] == first["client"]
    client = partner.get(f"/v1/clients/{first['client']}").get_json()
    assert (client["name"], client["email"]) == (CUSTOMER["name"], CUSTOMER["email"])
    # the intake given inline is now on record: the next booking needs none
    assert booked(partner, by_client(client["id"], "2027-03-12T10:00:00+00:00"))


def test_a_client_and_a_customer_together_or_neither_are_refused(partner):
    client = new_client(partner)
    both = assert_problem(partner.book(direct_booking(client=client["id"])), 422,
                          "validation_error")
    body = direct_booking()
    del body["customer"]
    neither = assert_problem(partner.book(body), 422, "validation_error")
    assert "customer" in both["errors"] and "customer" in neither["errors"]
    assert_problem(partner.book(by_client("cl_nobody", intake=INTAKE)), 404, "not_found")


def test_a_preferred_therapist_is_booked_when_free_and_else_any_able_one(partner):
    """Relaxation massage at camden, Wednesday 10:00: maya and priya can give it."""
    likes_priya = new_client(partner, preferences={"therapist": "priya"})
    likes_maya = new_client(partner, name="Grace", email="grace@example.com",
                            preferences={"therapist": "maya"})
    ten, noon = "2027-03-10T10:00:00+00:00", "2027-03-10T12:00:00+00:00"
    assert booked(partner, by_client(likes_maya["id"], noon, treatment="relaxation"))[
        "therapist"] == "maya"
    assert booked(partner, by_client(likes_priya["id"], noon, treatment="relaxation"))[
        "therapist"] == "priya"
    booked(partner, direct_booking(ten, treatment="relaxation", therapist="maya",
                                   customer={**CUSTOMER, "email": "x@example.com"}))
    assert booked(partner, by_client(likes_maya["id"], ten, treatment="relaxation"))[
        "therapist"] == "priya"  # maya is busy: any able one


def test_a_preferred_therapist_the_catalog_no_longer_has_is_passed_over(partner):
    """A client's record may name someone who has left: the booking goes ahead."""
    client = new_client(partner, preferences={"therapist": "long-gone"})
    body = by_client(client["id"], "2027-03-10T12:00:00+00:00", treatment="relaxation")
    assert booked(partner, body)["therapist"] in ("maya", "priya")


def test_a_preferred_gender_applies_where_the_request_names_none(partner):
    client = new_client(partner, preferences={"therapist_gender": "male"})
    record_intake(partner, client["id"])
    hold = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                           "duration": 60, "client": client["id"],
                                           "start": "2027-03-10T14:00:00+00:00"})
    assert hold.status_code == 201 and hold.get_json()["therapist"] == "jonas"


def test_a_clients_history_is_newest_first_a_page_at_a_time(partner):
    client = new_client(partner)
    record_intake(partner, client["id"])
    starts = ["2027-03-10T10:00:00+00:00", "2027-03-11T10:00:00+00:00",
              "2027-03-12T10:00:00+00:00"]
    ids = [booked(partner, by_client(client["id"], start))["id"] for start in starts]
    path = f"/v1/clients/{client['id']}/bookings"
    first = partner.get(path, query_string={"limit": 2}).get_json()
    rest = partner.get(path, query_string={"limit": 2, "cursor": first["next_cursor"]})
    assert [b["id"] for b in first["items"]] == [ids[2], ids[1]]
    assert [b["id"] for b in rest.get_json()["items"]] == [ids[0]]
    assert rest.get_json()["next_cursor"] is None


# erasure


def future_and_past(partner, clock) -> tuple[dict, dict, dict]:
    client = new_client(partner)
    record_intake(partner, client["id"], notes="old knee surgery, healed")
    past = booked(partner, by_client(client["id"], "2027-03-10T10:00:00+00:00"))
    future = booked(partner, by_client(client["id"], "2027-03-12T10:00:00+00:00"))
    clock.advance(days=5, hours=3)  # 10 March, 12:00: the first booking is now past
    return client, past, future


def test_erasing_a_client_with_bookings_to_come_is_refused_unless_asked(partner, clock):
    client, past, future = future_and_past(partner, clock)
    problem = assert_problem(partner.delete(f"/v1/clients/{client['id']}"), 409,
                             "has_future_bookings")
    assert problem["bookings"] == [future["id"]]
    assert partner.get(f"/v1/clients/{client['id']}").status_code == 200


def test_erasing_forgets_the_client_and_keeps_the_ledger(partner, clock, ctx, redis_client,
                                                         availability):
    client, past, future = future_and_past(partner, clock)
    response = partner.delete(f"/v1/clients/{client['id']}?cancel_future=true")
    assert response.status_code == 204, response.get_json()
    assert_problem(partner.get(f"/v1/clients/{client['id']}"), 404, "not_found")
    kept = partner.get(f"/v1/bookings/{past['id']}").get_json()
    assert kept["customer"] == {"name": "erased", "email": "erased", "phone": None}
    assert (kept["start"], kept["price"], kept["status"]) == (
        past["start"], past["price"], "confirmed")
    cancelled = partner.get(f"/v1/bookings/{future['id']}").get_json()
    assert cancelled["status"] == "cancelled" and cancelled["customer"]["email"] == "erased"
    assert [r.booking_id for r in availability.reservations()] == [past["id"]]
    events = {e.type: e.payload for e in ctx.store.due_events()}
    assert events["client.erased"]["client"] == client["id"]
    assert set(events["client.erased"]["bookings"]) == {past["id"], future["id"]}
    assert events["booking.cancelled"]["booking"]["id"] == future["id"]
    [audit] = ctx.clients.erasures()
    assert audit["client"] == client["id"] and audit["cancelled"] == 1
    assert "Ada" not in json.dumps(audit) and "ada@" not in json.dumps(audit)
    assert partner.delete(f"/v1/clients/{client['id']}").status_code == 204  # idempotent
    assert len(ctx.clients.erasures()) == 1
    assert_no_trace(redis_client, ["Ada Lovelace", "ada@example.com", ADA["phone"], "knee"],
                    but_in=ctx.store.k("outbox"))


def test_an_export_passes_on_no_refusal_of_notifications(partner, ctx):
    """Whatever notifications refuses (its params, an unknown method, a crash), the
    partner asking for an export hears booking's own `dependency_unavailable`."""
    client = new_client(partner)["id"]
    booked(partner, by_client(client, intake=INTAKE))
    answers: list[Callable[[dict], dict]] = []

    def deliveries(params: dict) -> dict:
        return answers[-1](params)

    def refuses(error: Exception) -> Callable[[dict], dict]:
        def answer(params: dict) -> dict:
            raise error
        return answer

    server = RpcServer("notifications", {"deliveries": deliveries})
    with ctx.infra.connection() as connection, running_worker(connection,
                                                               rpc_servers=[server]):
        answers.append(lambda params: {"items": [{"booking": params["bookings"][0]}]})
        exported = partner.get(f"/v1/clients/{client}/export")
        assert exported.status_code == 200, exported.get_json()
        assert len(exported.get_json()["notifications"]) == 1
        for error in (Invalid(errors={"bookings": ["too many"]}), NotFound("no such thing"),
                      BadRequest("no method 'deliveries'"), RuntimeError("a bug")):
            answers.append(refuses(error))
            problem = assert_problem(partner.get(f"/v1/clients/{client}/export"), 503,
                                     "dependency_unavailable")
            assert "errors" not in problem and "no such thing" not in str(problem)


def assert_no_trace(redis_client, needles: list[str], but_in: str = "",
                    match: str = "*") -> None:
    """No key or value in Redis (matching `match`) holds any of `needles`; the key
    `but_in` aside (the outbox: events wait there until the relay publishes them)."""
    for name in redis_client.scan_iter(match=match, count=1000):
        if but_in and name == but_in:
            continue
        text = name + json.dumps(dump_key(redis_client, name))
        for needle in needles:
            assert needle not in text, (name, needle)


def dump_key(redis_client, name: str) -> object:
    kind = redis_client.type(name)
    return {"string": redis_client.get, "hash": redis_client.hgetall,
            "list": lambda n: redis_client.lrange(n, 0, -1),
            "set": lambda n: sorted(redis_client.smembers(n)),
            "zset": lambda n: redis_client.zrange(n, 0, -1)}.get(kind, lambda n: None)(name)


# special-category data at rest


def test_health_answers_and_notes_are_never_in_clear_text_in_redis(partner, redis_client):
    client = new_client(partner, preferences={"notes": "prefers the window side"})
    record_intake(partner, client["id"], pregnant=True, notes="twelve weeks along")
    booked(partner, direct_booking(intake={**INTAKE, "notes": "stiff lower back"},
                                   customer={**CUSTOMER, "email": "x@example.com"}))
    assert_no_trace(redis_client, ["window side", "twelve weeks", "stiff lower back"])
    # the questions themselves are in the catalog (contraindications), never an answer
    assert_no_trace(redis_client, ["pregnant", "recent_surgery", "recent_injury"],
                    match=key("london", "booking", "*"))
    # ...and the API still reads them back
    assert partner.get(f"/v1/clients/{client['id']}").get_json()["preferences"]["notes"] == \
        "prefers the window side"


def test_answers_older_than_the_retention_period_are_purged(partner, clock, ctx):
    client = new_client(partner)
    record_intake(partner, client["id"])
    booking = booked(partner, by_client(client["id"]))
    inline = booked(partner, direct_booking("2027-03-11T10:00:00+00:00"))
    clock.advance(days=334)
    assert jobs.purge_old_answers(ctx) == 0
    # a booking may rely on answers given up to 30 days before it: its copy goes first
    clock.advance(days=2)
    assert jobs.purge_old_answers(ctx) == 2
    assert len(ctx.clients.intakes(client["id"])) == 2  # Ada's: recorded, and given inline
    clock.advance(days=30)
    assert jobs.purge_old_answers(ctx) == 2  # the client records, a year on
    assert ctx.clients.intakes(client["id"]) == []
    for made in (booking, inline):
        stored = ctx.store.get(made["id"])
        assert stored.screening.declared is None and stored.screening.outcome == "cleared"
    assert jobs.purge_old_answers(ctx) == 0


def test_rotating_the_data_key_reseals_everything(partner, ctx, settings, clock):
    client = new_client(partner, preferences={"notes": "likes it quiet"})
    record_intake(partner, client["id"], notes="mild asthma")
    booking = booked(partner, by_client(client["id"]))
    fresh = new_key()
    ctx.clients.vault = ctx.store.vault = Vault(f"{fresh},{settings.data_key}")
    assert ctx.store.reseal_all() == 1 and ctx.clients.reseal_all() == 2
    only_new = Vault(fresh)
    store = BookingStore(ctx.store.redis, ctx.city, 1.0, clock, only_new)
    assert store.get(booking["id"]).screening.declared.pregnant is False
    ctx.clients.vault = only_new
    assert ctx.clients.get(client["id"]).preferences.notes == "likes it quiet"
    assert ctx.clients.intakes(client["id"])[0].answers.notes == "mild asthma"


def test_clear_text_answers_of_older_bookings_are_sealed_by_the_upgrade(partner, ctx,
                                                                       redis_client):
    booking = booked(partner, direct_booking(intake={**INTAKE, "notes": "from before"}))
    key = ctx.store.k("booking", booking["id"])
    old = json.loads(redis_client.get(key))
    old["screening"]["declared"] = {**INTAKE, "notes": "from before"}  # as once written
    redis_client.set(key, json.dumps(old))
    assert ctx.store.seal_clear_answers() == 1
    assert "from before" not in redis_client.get(key)
    assert ctx.store.get(booking["id"]).screening.declared.notes == "from before"
    assert ctx.store.seal_clear_answers() == 0


def test_booking_refuses_to_start_without_a_data_key(settings):
    with pytest.raises(VaultError, match="SPA_DATA_KEY"):
        create_app({"redis_url": settings.redis_url, "broker_url": settings.broker_url,
                    "data_key": ""})


@pytest.mark.parametrize("near_miss", [0, 1, "false", None])
def test_a_health_answer_must_be_true_or_false_exactly(partner, near_miss):
    client = new_client(partner)
    response = partner.post(f"/v1/clients/{client['id']}/intake",
                            json={**ANSWERS, "recent_surgery": near_miss})
    problem = assert_problem(response, 422, "validation_error")
    assert "recent_surgery" in problem["errors"]
    assert partner.book(by_client(client["id"])).get_json()["reason"] == "missing"


def test_rescheduling_to_a_therapist_who_does_not_exist_names_the_field(partner):
    booking = booked(partner, direct_booking())
    response = partner.post(f"/v1/bookings/{booking['id']}/reschedule",
                            json={"start": "2027-03-10T12:00:00+00:00", "therapist": "nobody"})
    problem = assert_problem(response, 422, "validation_error")
    assert "therapist" in problem["errors"]
    assert partner.get(f"/v1/bookings/{booking['id']}").get_json()["start"] == booking["start"]
