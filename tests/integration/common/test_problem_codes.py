"""Every problem `code` a client can receive: one status each, raised through the real
HTTP layer, listed in the OpenAPI documents and in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug.exceptions import HTTPException

from services.availability.app import create_app as availability_app
from services.booking.app import create_app as booking_app
from services.common import errors
from services.common.http import CODE_OF_HTTP_STATUS, STATUS_OF_CODE
from services.common.service import Infra, base_app
from services.notifications.app import create_app as notifications_app
from tests.helpers import assert_problem

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_error_class_has_a_status():
    assert set(errors.registered_codes()) <= set(STATUS_OF_CODE)


def test_every_status_werkzeug_raises_has_a_code_of_the_table():
    assert set(CODE_OF_HTTP_STATUS.values()) <= set(STATUS_OF_CODE)
    assert all(STATUS_OF_CODE[code] == status for status, code in CODE_OF_HTTP_STATUS.items())


@pytest.fixture
def raising_client(settings):
    """An app on the shared base whose route raises the error the test names."""
    app, _ = base_app("codes", "Codes", Infra.from_settings(settings))

    @app.get("/raise/<code>")
    def raise_it(code: str):
        if code in errors.registered_codes():
            raise errors.registered_codes()[code]("raised by the test")
        raise _werkzeug_error(code)

    return app.test_client()


def _werkzeug_error(code: str) -> HTTPException:
    status = {c: s for s, c in CODE_OF_HTTP_STATUS.items()}[code]
    error = HTTPException(description="raised by the test")
    error.code = status
    return error


@pytest.mark.parametrize("code", sorted(STATUS_OF_CODE))
def test_each_code_answers_with_its_one_status(raising_client, code):
    body = assert_problem(raising_client.get(f"/raise/{code}"), STATUS_OF_CODE[code], code)
    assert body["type"].endswith(f"/problems/{code}")


def test_the_openapi_documents_list_every_code(settings):
    for create in (availability_app, booking_app, notifications_app):
        app = create({"redis_url": settings.redis_url, "broker_url": settings.broker_url,
                      "data_key": settings.data_key})
        spec = app.test_client().get("/v1/openapi.json").get_json()
        enum = spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        assert set(enum) == set(STATUS_OF_CODE)


def test_the_readme_lists_every_code_with_its_status():
    table = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", README.read_text(), re.M))
    assert table == {code: str(status) for code, status in STATUS_OF_CODE.items()}
