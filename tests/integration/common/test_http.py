"""The shared HTTP layer as a partner meets it: problem+json for every error, request
ids, API keys, rate limits, readiness. A small app on the real base (real Redis)."""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.common.auth import KeyStore, current_principal, hash_key
from services.common.service import Infra, base_app
from tests import helpers
from tests.helpers import ManualClock, bearer

NOON = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


class EchoBody(Schema):
    name = fields.String(required=True)
    email = fields.Email(required=True)
    count = fields.Integer()


def make_app(settings, clock=None):
    app, api = base_app("echo", "Echo", Infra.from_settings(settings), clock)
    blp = Blueprint("echo", __name__, url_prefix="/v1")

    @blp.post("/echo")
    @blp.arguments(EchoBody)
    def echo(body):
        return {"name": body["name"]}

    @blp.get("/admin-only")
    def admin_only():
        current_principal().require_admin()
        return {"ok": True}

    @blp.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    api.register_blueprint(blp)
    return app


@pytest.fixture
def client(settings):
    return make_app(settings).test_client()


@pytest.fixture
def admin(api_keys):
    return bearer(api_keys["admin"])


def assert_problem(response, status: int, code: str) -> dict:
    body = helpers.assert_problem(response, status, code)
    assert {"type", "title", "detail"} <= set(body)
    return body


def test_an_unknown_route_is_a_404_problem(client, admin):
    assert_problem(client.get("/v1/nowhere", headers=admin), 404, "not_found")


def test_a_wrong_method_is_a_405_problem(client, admin):
    assert_problem(client.delete("/v1/echo", headers=admin), 405, "method_not_allowed")


def test_a_body_over_64_kb_is_a_413_problem(client, admin):
    big = json.dumps({"name": "x" * 70_000, "email": "a@b.co"})
    response = client.post("/v1/echo", data=big, headers=admin,
                           content_type="application/json")
    assert_problem(response, 413, "payload_too_large")


def test_malformed_json_is_a_400_problem(client, admin):
    response = client.post("/v1/echo", data="{not json", headers=admin,
                           content_type="application/json")
    assert_problem(response, 400, "bad_request")


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400_problem_not_a_crash(client, admin, opening):
    closing = "]" if opening == "[" else "}"
    body = opening * 10_000 + closing * 10_000  # about 20 KB: under the size limit
    response = client.post("/v1/echo", data=body, headers=admin,
                           content_type="application/json")
    assert "nests deeper than 32" in assert_problem(response, 400, "bad_request")["detail"]


def test_json_nested_within_the_limit_and_brackets_in_strings_are_fine(client, admin):
    body = {"name": "[" * 100 + "{" * 100, "email": "a@b.co"}
    assert client.post("/v1/echo", json=body, headers=admin).status_code == 200


def test_invalid_fields_are_a_422_with_the_field_errors(client, admin):
    response = client.post("/v1/echo", json={"email": "not-an-email", "count": "many"},
                           headers=admin)
    body = assert_problem(response, 422, "validation_error")
    assert set(body["errors"]) == {"name", "email", "count"}


def test_unknown_fields_are_refused(client, admin):
    response = client.post("/v1/echo", json={"name": "a", "email": "a@b.co", "extra": 1},
                           headers=admin)
    assert "extra" in assert_problem(response, 422, "validation_error")["errors"]


def test_an_unexpected_error_is_a_500_problem_not_an_html_page(client, admin):
    assert_problem(client.get("/v1/boom", headers=admin), 500, "internal_error")


def test_the_request_id_is_echoed_or_made_up(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers[
        "X-Request-Id"] == "abc-123"
    made_up = client.get("/healthz", headers={"X-Request-Id": "bad id;drop"}).headers[
        "X-Request-Id"]
    assert made_up and made_up != "bad id;drop"


def test_no_key_or_an_unknown_key_is_a_401(client):
    assert_problem(client.get("/v1/admin-only"), 401, "unauthenticated")
    assert_problem(client.get("/v1/admin-only", headers=bearer("spa_admin_guess")), 401,
                   "unauthenticated")


def test_a_partner_key_on_an_admin_route_is_a_403(client, api_keys):
    response = client.get("/v1/admin-only", headers=bearer(api_keys["partner"]))
    assert_problem(response, 403, "forbidden")


def test_keys_are_stored_only_as_hashes(redis_client, settings, api_keys):
    stored = redis_client.hgetall(KeyStore(redis_client, settings.city).keys)
    assert hash_key(api_keys["admin"]) in stored
    dump = json.dumps(stored)
    assert all(key not in dump for key in api_keys.values())


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(settings, api_keys):
    client = make_app(replace(settings, rate_limit_per_minute=3),
                      ManualClock(NOON)).test_client()
    statuses = [client.get("/v1/admin-only", headers=bearer(api_keys["admin"])).status_code
                for _ in range(4)]
    limited = client.get("/v1/admin-only", headers=bearer(api_keys["admin"]))
    assert statuses == [200, 200, 200, 429]
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "20"  # one token: a third of the minute


def test_no_window_boundary_lets_twice_the_budget_through(settings, api_keys):
    """Three a minute, sent in bursts just before and just after a minute turns: a
    fixed window would let six through; the bucket refills two seconds' worth."""
    clock = ManualClock(NOON - timedelta(seconds=1))
    client = make_app(replace(settings, rate_limit_per_minute=3), clock).test_client()

    def burst() -> list[int]:
        return [client.get("/v1/admin-only", headers=bearer(api_keys["admin"])).status_code
                for _ in range(3)]

    before = burst()
    clock.advance(seconds=2)
    assert before == [200, 200, 200] and burst() == [429, 429, 429]
    clock.advance(seconds=20)
    assert burst() == [200, 429, 429]


def test_keys_are_limited_apart(settings, api_keys):
    client = make_app(replace(settings, rate_limit_per_minute=1), ManualClock(NOON)).test_client()
    assert client.get("/v1/admin-only", headers=bearer(api_keys["admin"])).status_code == 200
    assert client.get("/v1/admin-only", headers=bearer(api_keys["admin"])).status_code == 429
    assert client.get("/v1/admin-only", headers=bearer(api_keys["partner"])).status_code == 403


def test_guessing_keys_is_limited_per_address_and_writes_one_bucket(settings, redis_client):
    limited = replace(settings, address_rate_limit_per_minute=5)
    client = make_app(limited, ManualClock(NOON)).test_client()
    before = set(redis_client.keys("*"))
    statuses = [client.get("/v1/admin-only", headers=bearer(f"spa_admin_guess{n}"),
                           environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
                for n in range(200)]
    assert statuses == [401] * 5 + [429] * 195
    assert len(set(redis_client.keys("*")) - before) == 1  # one address, one bucket
    other = client.get("/v1/admin-only", environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert_problem(other, 401, "unauthenticated")  # another address has its own budget


def test_the_gateways_forwarded_address_is_the_one_limited(settings):
    client = make_app(replace(settings, address_rate_limit_per_minute=1),
                      ManualClock(NOON)).test_client()

    def from_(address: str) -> int:
        # The gateway appends the client's address; an earlier one is the client's claim.
        forwarded = {"X-Forwarded-For": f"198.51.100.1, {address}"}
        return client.get("/v1/admin-only", headers=forwarded).status_code

    assert [from_("203.0.113.1"), from_("203.0.113.1"), from_("203.0.113.2")] == [401, 429,
                                                                                  401]


def test_ready_when_redis_and_broker_answer(client):
    assert client.get("/readyz").get_json()["checks"] == {"redis": "ok", "broker": "ok"}


def test_not_ready_when_the_broker_is_unreachable(settings):
    app = make_app(replace(settings, broker_url="amqp://guest:guest@127.0.0.1:1//"))
    body = assert_problem(app.test_client().get("/readyz"), 503, "dependency_unavailable")
    assert "broker" in body["checks"]


@pytest.fixture
def black_hole():
    """A port that accepts TCP connections and never says a word: a hung dependency."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize("down", ["redis refused", "broker refused", "redis hangs",
                                  "broker hangs", "both hang"])
def test_readiness_answers_within_half_a_second_whatever_is_down(one_redis, settings,
                                                                  black_hole, down):
    hung, refused = f"127.0.0.1:{black_hole}", "127.0.0.1:1"
    redis_at = hung if "redis hangs" in down or down == "both hang" else refused
    broker_at = hung if "broker hangs" in down or down == "both hang" else refused
    urls = {"redis_url": f"redis://{redis_at}/0" if "redis" in down or "both" in down
            else settings.redis_url,
            "broker_url": f"redis://{broker_at}/0" if "broker" in down or "both" in down
            else settings.redis_url}
    client = make_app(replace(settings, **urls)).test_client()
    started = time.monotonic()
    body = assert_problem(client.get("/readyz"), 503, "dependency_unavailable")
    assert time.monotonic() - started < 0.5
    assert set(body["checks"]) == ({"redis", "broker"} if "both" in down
                                   else {down.split()[0]})


def test_a_request_while_redis_is_down_is_a_503_problem(settings, api_keys):
    app = make_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    response = app.test_client().get("/v1/admin-only", headers=bearer(api_keys["admin"]))
    assert_problem(response, 503, "dependency_unavailable")


def test_customer_data_never_reaches_the_logs(client, admin, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/v1/echo", json={"name": "Ada Lovelace", "email": "ada@example.com"},
                headers=admin)
    client.post("/v1/echo", json={"name": "Ada Lovelace", "email": "bad"}, headers=admin)
    formatter = logging.getLogger().handlers[0].formatter
    text = "\n".join(formatter.format(record) for record in caplog.records)
    assert "/v1/echo" in text
    assert "Ada" not in text and "ada@example.com" not in text
