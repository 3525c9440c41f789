"""The stack as a new user meets it: one base URL, every service healthy, errors
as problem+json."""

import json
import socket
import subprocess
import sys

import pytest
import requests

from services.common.devstack import ROOT
from tests.helpers import assert_problem

SERVICES = ("availability", "booking", "notifications")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_answers_health_through_the_gateway(stack, service):
    response = stack.get(f"/{service}/healthz", key=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": service}


def test_gateway_is_ready_when_every_service_is(stack):
    response = stack.get("/readyz", key=None)
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {*SERVICES, "desk"}


def test_the_front_desk_answers_health_through_the_gateway(stack):
    assert stack.get("/desk/healthz", key=None).json() == {"status": "ok", "service": "desk"}
    assert stack.get("/desk/readyz", key=None).json()["checks"] == {"api": "ok"}


def test_dev_keys_are_written_for_scripts(stack):
    assert stack.admin_key.startswith("spa_admin_")
    assert stack.partner_key.startswith("spa_partner_")
    assert "camden" in stack.studios


@pytest.mark.parametrize("path", ["/v1/bookings", "/v1/studios", "/v1/notifications"])
def test_a_request_without_a_key_is_a_401_problem(stack, path):
    response = stack.get(path, key=None)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"


def test_an_unknown_key_is_a_401_problem(stack):
    response = stack.get("/v1/bookings", key="spa_admin_not-a-real-key")
    assert response.status_code == 401


def test_unknown_route_is_a_404_problem_not_an_html_page(stack):
    response = stack.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_merged_openapi_document_lists_every_service(stack):
    document = stack.get("/v1/openapi.json", key=None).json()
    paths = set(document["paths"])
    assert "/v1/bookings" in paths and "/v1/studios" in paths
    assert "/v1/notifications" in paths


def test_swagger_ui_is_served_offline(stack):
    page = stack.get("/docs", key=None)
    assert page.status_code == 200
    script = stack.get("/docs/static/swagger-ui-bundle.js", key=None)
    assert script.status_code == 200 and len(script.content) > 100_000


def test_a_second_spa_dev_on_the_same_data_dir_refuses_to_start(stack):
    result = subprocess.run([sys.executable, "-m", "services.cli", "dev"],
                            env=stack.env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "already running" in result.stderr
    assert stack.get("/readyz", key=None).status_code == 200  # the first one is unharmed


def base_urls(stack) -> list[str]:
    """The gateway, and a service behind it: each answers for itself."""
    return [stack.base_url, f"http://127.0.0.1:{stack.env['SPA_BOOKING_PORT']}"]


@pytest.mark.parametrize("target", [0, 1], ids=["gateway", "service"])
@pytest.mark.parametrize("request_kwargs, status, code", [
    ({"headers": {"Idempotency-Key": "k" * 1_000_000}}, 431, "headers_too_large"),
    ({"headers": {"Authorization": "Bearer " + "x" * 20_000}}, 431, "headers_too_large"),
    ({"params": {"q": "a" * 9_000}}, 414, "uri_too_long"),
])
def test_what_the_server_refuses_before_any_app_runs_is_problem_json(
        stack, target, request_kwargs, status, code):
    url = base_urls(stack)[target] + "/v1/bookings"
    response = requests.post(url, timeout=10, **request_kwargs)
    assert_problem(response, status, code)


def test_a_request_that_never_arrives_whole_gets_a_408_problem(stack):
    host, port = stack.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"GET /v1/studios HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        conn.settimeout(30)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in head
    assert json.loads(body)["code"] == "request_timeout"
