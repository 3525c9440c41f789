"""The desk's pages against a fake public API: sessions, sign-in redirects, the headers
pages carry and what the forms send, without a stack."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from services.desk import auth, public_api
from services.desk.app import create_app
from services.desk.pages import field_errors
from services.desk.public_api import ApiProblem, PublicApi
from tests.unit.desk.test_timeline import DAY, booking, schedule

KEY = "spa_partner_unit"
STUDIOS = {"items": [{"id": "camden", "name": "Triyoga Camden", "timezone": "Europe/London"}]}
TREATMENTS = {"items": [{"id": "ashiatsu", "name": "Ashiatsu", "durations_min": [60],
                         "prices": {"60": {"amount": "95.00", "currency": "GBP"}},
                         "addons": []}]}
SLOTS = {"items": [{"start": "2027-01-05T10:00:00+00:00",
                    "price": {"amount": "95.00", "currency": "GBP"}}]}


class FakeApi:
    """The public API as the desk calls it: answers by method and path, 401 for a key
    it does not know; every call is kept."""

    def __init__(self):
        self.keys = {KEY}
        self.calls: list[tuple[str, str, dict]] = []
        self.answers = {("GET", "/v1/studios"): STUDIOS, ("GET", "/v1/treatments"): TREATMENTS,
                        ("GET", "/v1/slots"): SLOTS,
                        ("GET", "/v1/studios/camden/schedule"): schedule(DAY),
                        ("GET", "/v1/bookings"): {"items": [], "next_cursor": None}}

    def call(self, api: PublicApi, method: str, path: str, **kwargs):
        self.calls.append((method, path, kwargs))
        if api.headers["Authorization"].removeprefix("Bearer ") not in self.keys:
            raise ApiProblem(401, "unauthenticated", "unknown key")
        if (method, path) not in self.answers:
            raise ApiProblem(404, "not_found", "no such thing")
        return self.answers[method, path]


@pytest.fixture
def api(monkeypatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(PublicApi, "call", lambda self, *args, **kwargs: fake.call(
        self, *args, **kwargs))
    return fake


@pytest.fixture
def client(tmp_path, api):
    app = create_app({"data_dir": tmp_path, "desk_api_url": "http://api.invalid"})
    return app.test_client()


def token(client, path: str = "/desk/sign-in") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def sign_in(client) -> None:
    response = client.post("/desk/sign-in", data={"csrf_token": token(client), "key": KEY})
    assert response.status_code == 302


def sid(client) -> str:
    return client.get_cookie("spa_desk", path="/desk").value


def opens_the_day(client, session_id: str) -> bool:
    other = client.application.test_client()
    other.set_cookie("spa_desk", session_id, path="/desk")
    return other.get(f"/desk/day?studio=camden&date={DAY}").status_code == 200


POLL = {"HX-Request": "true",
        "HX-Current-URL": f"http://localhost/desk/day?studio=camden&date={DAY}"}


def sent_to_sign_in(response) -> str:
    """Where an htmx request was sent: the page to come back to after signing in."""
    assert response.status_code == 204
    target = urlsplit(response.headers["HX-Redirect"])
    assert target.path == "/desk/sign-in"
    return parse_qs(target.query)["next"][0]


# Sessions ---------------------------------------------------------------------------

def test_signing_in_gives_a_new_session_id_and_the_one_before_opens_nothing(client):
    client.get("/desk/sign-in")
    before = sid(client)  # an id someone could have planted in the browser
    sign_in(client)
    assert sid(client) != before
    assert opens_the_day(client, sid(client))
    assert not opens_the_day(client, before)


def test_signing_out_ends_the_session_under_a_new_id(client):
    sign_in(client)
    signed_in = sid(client)
    client.post("/desk/sign-out", data={"csrf_token": token(client, "/desk/day")})
    assert sid(client) != signed_in and not opens_the_day(client, signed_in)
    assert "Signed out." in client.get("/desk/sign-in").text


def test_a_session_ends_its_lifetime_after_sign_in_however_busy(client, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(auth, "time", type("Clock", (), {"time": staticmethod(lambda: now[0])}))
    sign_in(client)
    now[0] += 11 * 3600  # the day page polled all day long
    assert client.get(f"/desk/day?studio=camden&date={DAY}").status_code == 200
    now[0] += 2 * 3600  # 13 hours after sign-in; a session lasts 12
    response = client.get(f"/desk/day?studio=camden&date={DAY}")
    assert response.status_code == 302 and response.location.startswith("/desk/sign-in")
    assert "Your session has ended" in client.get(response.location).text


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example/desk/", "/\\evil.example", "/desk/\\evil.example",
    "/desk/../../evil", "/desk/day\r\nSet-Cookie: planted=1", "/desk/day\nX: y", "desk/day"])
def test_sign_in_goes_back_only_to_a_page_of_the_desk(target):
    assert auth.safe_next(target) == ""


def test_sign_in_goes_back_to_the_page_asked_for(client):
    asked = f"/desk/day?studio=camden&date={DAY}"
    sent = client.get(asked)
    assert parse_qs(urlsplit(sent.location).query)["next"] == [asked]
    response = client.post("/desk/sign-in", data={"csrf_token": token(client), "key": KEY,
                                                  "next": asked})
    assert response.location == asked


def test_polling_without_a_session_sends_the_whole_page_to_sign_in(client):
    """Not the sign-in page swapped into the day: htmx is told to go there."""
    response = client.get(f"/desk/day/timeline?studio=camden&date={DAY}", headers=POLL)
    assert sent_to_sign_in(response) == f"/desk/day?studio=camden&date={DAY}"


def test_a_key_revoked_mid_session_ends_it_at_the_next_poll(client, api):
    sign_in(client)
    poll = f"/desk/day/timeline?studio=camden&date={DAY}"
    assert client.get(poll, headers=POLL).status_code == 200
    api.keys.clear()  # `spa partners keys revoke`
    assert sent_to_sign_in(client.get(poll, headers=POLL)).startswith("/desk/day?")
    assert "no longer accepted" in client.get("/desk/sign-in").text
    api.keys.add(KEY)
    assert client.get(poll).status_code == 302  # the session is gone, not just one answer


# What every page carries ------------------------------------------------------------

def test_pages_are_not_kept_framed_or_scripted_from_elsewhere(client):
    sign_in(client)
    page = client.get(f"/desk/day?studio=camden&date={DAY}")
    assert page.headers["Cache-Control"] == "no-store"  # Back after sign-out shows nothing
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/desk/static/desk.css").headers.get("Cache-Control") != "no-store"


def test_a_booking_in_a_poll_keeps_an_id_so_the_focus_stays_on_it(client, api):
    mine = {**booking(DAY, "10:00", "11:00"), "id": "bk_focus", "duration": 60}
    api.answers["GET", "/v1/bookings"] = {"items": [mine], "next_cursor": None}
    sign_in(client)
    live = client.get(f"/desk/day/timeline?studio=camden&date={DAY}", headers=POLL).text
    assert 'id="tl-bk_focus"' in live and 'id="arrival-bk_focus"' in live
    assert not re.search(r'<a [^>]*role="cell"', live)  # a link stays a link


# The API as the desk calls it -------------------------------------------------------

def test_an_id_from_the_url_stays_one_path_segment_of_the_api(client, api):
    sign_in(client)
    assert client.get("/desk/bookings/bk_1%3Fstatus=x").status_code == 404
    assert ("GET", "/v1/bookings/bk_1%3Fstatus%3Dx", {}) in api.calls
    assert client.get("/desk/day?studio=camden%2F..%2Fx").status_code == 404
    assert ("GET", "/v1/studios/camden%2F..%2Fx/schedule") in [c[:2] for c in api.calls]
    with pytest.raises(ApiProblem):
        PublicApi("http://api.invalid", KEY).booking("..")


def test_a_second_submit_while_the_first_books_answers_with_the_same_booking(api, monkeypatch):
    monkeypatch.setattr(public_api, "REPLAY_WAIT_S", (0, 0, 0))
    busy = ApiProblem(409, "idempotency_in_progress", "the first request is still running")
    answers = iter([busy, busy, {"id": "bk_once"}])

    def first_still_booking(api_, method, path, **kwargs):
        api.calls.append((method, path, kwargs))
        answer = next(answers)
        if isinstance(answer, ApiProblem):
            raise answer
        return answer

    monkeypatch.setattr(api, "call", first_still_booking)
    assert PublicApi("http://api.invalid", KEY).book({}, "desk-1")["id"] == "bk_once"
    assert [c[2]["headers"]["Idempotency-Key"] for c in api.calls] == ["desk-1"] * 3


# The new-booking form ---------------------------------------------------------------

def new_form(client) -> dict:
    page = client.get(f"/desk/new?studio=camden&date={DAY}&order=ashiatsu:60").text
    booking_form = page[page.index('aria-label="Book"'):]
    assert not re.search(r'<input type="radio" name="(start|pregnant|recent_\w+)"[^>]*checked',
                         booking_form)  # nothing is chosen or answered for reception
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', booking_form))
    return {**form, "start": SLOTS["items"][0]["start"], "email": "walk.in@example.com",
            "name": "Walk In", "intake": "ask", "pressure": "medium"}


def test_health_questions_left_unanswered_book_nothing(client, api):
    sign_in(client)
    response = client.post("/desk/new", data={**new_form(client), "pregnant": "no"})
    assert response.status_code == 422 and "answer every health question" in response.text
    assert "walk.in@example.com" in response.text  # kept, to answer and send again
    assert ("POST", "/v1/bookings") not in [c[:2] for c in api.calls]


def test_a_new_booking_with_a_forged_idempotency_key_is_refused(client, api):
    sign_in(client)
    answered = {"pregnant": "no", "recent_surgery": "no", "recent_injury": "no"}
    forged = {**new_form(client), **answered, "idempotency_key": "desk-1\r\nX-Admin: 1"}
    assert client.post("/desk/new", data=forged).status_code == 400
    assert ("POST", "/v1/bookings") not in [c[:2] for c in api.calls]


def test_field_errors_show_nested_fields_with_their_messages():
    errors = {"customer": {"email": ["Not a valid email address."]}, "start": ["Missing."]}
    assert field_errors(errors) == ["customer email: Not a valid email address.",
                                    "start: Missing."]
