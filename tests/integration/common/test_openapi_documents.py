"""The three services' OpenAPI documents, as generators and fuzzers read them: every
operation named (links and clients refer to operations by id), every numeric bound
a number (a bound rendered as a string, e.g. a Decimal's "0.00", makes the document
invalid and schemathesis skips the operation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.availability.app import create_app as availability_app
from services.booking.app import create_app as booking_app
from services.notifications.app import create_app as notifications_app

METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
NUMBER_BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
COUNT_BOUNDS = {"minLength", "maxLength", "minItems", "maxItems", "minProperties",
                "maxProperties"}


@pytest.fixture
def documents(settings) -> dict[str, dict]:
    config = {"redis_url": settings.redis_url, "broker_url": settings.broker_url,
              "data_key": settings.data_key}
    return {name: create(config).test_client().get("/v1/openapi.json").get_json()
            for name, create in (("availability", availability_app),
                                 ("booking", booking_app),
                                 ("notifications", notifications_app))}


def operations(document: dict) -> Iterator[tuple[str, dict]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def bounds(node: object, where: str = "") -> Iterator[tuple[str, str, object]]:
    """(where, keyword, value) of every bound in a document. A schema's `properties`
    map is keyed by field names, so a field called "minimum" is not a bound."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NUMBER_BOUNDS | COUNT_BOUNDS and not where.endswith("/properties"):
                yield where, key, value
            yield from bounds(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from bounds(value, f"{where}/{n}")


def test_every_operation_has_an_id_unique_across_the_services(documents):
    ids: dict[str, str] = {}
    for service, document in documents.items():
        for name, operation in operations(document):
            assert operation.get("operationId"), f"{service}: {name} has no operationId"
            other = ids.setdefault(operation["operationId"], f"{service}: {name}")
            assert other == f"{service}: {name}", f"{other} and {name} share an id"
    assert len(ids) > 20  # the walk found the documents' operations


def test_every_numeric_bound_is_a_number(documents):
    found = [(service, *bound) for service, document in documents.items()
             for bound in bounds(document)]
    assert any(keyword == "minimum" for _, _, keyword, _ in found)  # the walk sees them
    for service, where, keyword, value in found:
        wanted = int if keyword in COUNT_BOUNDS else (int, float)
        assert isinstance(value, wanted) and not isinstance(value, bool), (
            f"{service}: {where} {keyword} is {value!r}")
