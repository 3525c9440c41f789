"""The stack as a new user meets it: one base URL, every service healthy, errors
as problem+json."""

import subprocess
import sys

import pytest

from services.common.devstack import ROOT

SERVICES = ("availability", "booking", "notifications")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_answers_health_through_the_gateway(stack, service):
    response = stack.get(f"/{service}/healthz", key=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": service}


def test_gateway_is_ready_when_every_service_is(stack):
    response = stack.get("/readyz", key=None)
    assert response.status_code == 200
    assert set(response.json()["checks"]) == set(SERVICES)


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
