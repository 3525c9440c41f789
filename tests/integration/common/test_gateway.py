"""The dev gateway's hop against a real upstream on a socket: what a service receives
is what the client sent (target, method, body, headers), plus who sent it."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.common.redis import free_port
from services.gateway.app import create_app


@Request.application
def echo(request: Request) -> Response:
    if request.path == "/fixed":
        return Response("0123456789", mimetype="text/plain")
    seen = {"method": request.method, "target": request.environ.get("RAW_URI")
            or request.environ.get("REQUEST_URI"), "body": request.get_data(as_text=True),
            "headers": dict(request.headers)}
    return Response(json.dumps(seen), status=201, mimetype="application/json",
                    headers={"Location": "/v1/bookings/bk_1", "Connection": "close"})


@pytest.fixture
def upstream():
    server = make_server("127.0.0.1", free_port(), echo, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def gateway(upstream):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app({"availability": upstream, "booking": upstream, "notifications": down})
    return app.test_client()


def test_a_request_reaches_the_service_as_sent(gateway):
    response = gateway.post("/v1/bookings?x=%2Fa&y=1", data='{"a": 1}',
                            content_type="application/json",
                            headers={"Idempotency-Key": "k1", "X-Forwarded-For": "10.0.0.9"},
                            environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 201
    assert response.headers["Location"] == "/v1/bookings/bk_1"
    assert "Connection" not in response.headers  # one connection's, not the message's
    seen = response.get_json()
    assert seen["method"] == "POST" and seen["target"] == "/v1/bookings?x=%2Fa&y=1"
    assert seen["body"] == '{"a": 1}'
    assert seen["headers"]["Idempotency-Key"] == "k1"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["X-Forwarded-For"] == "10.0.0.9, 192.0.2.7"


def test_a_service_prefix_is_taken_off_and_connections_closed_by_the_service_are_replaced(
        gateway):
    for _ in range(3):  # the upstream closes every connection after its answer
        seen = gateway.get("/booking/healthz?deep=1").get_json()
        assert seen["target"] == "/healthz?deep=1" and seen["method"] == "GET"


def test_a_head_request_is_told_the_length_of_what_a_get_would_send(gateway):
    head = gateway.head("/booking/fixed")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == "10"


def test_a_service_that_does_not_answer_is_a_503_problem(gateway):
    response = gateway.get("/v1/webhooks")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "dependency_unavailable"


def test_a_path_no_service_has_is_the_gateways_own_404(gateway):
    response = gateway.get("/v2/nothing")
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


@pytest.fixture
def hung_upstream():
    """A service that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:  # closed at teardown
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in held:
        conn.close()


def test_readiness_names_a_hung_and_a_refusing_service_within_half_a_second(
        upstream, hung_upstream):
    refused = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = create_app({"availability": upstream, "booking": hung_upstream,
                         "notifications": refused}).test_client()
    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and elapsed < 0.5, elapsed
    assert response.get_json()["code"] == "dependency_unavailable"
    assert set(response.get_json()["checks"]) == {"booking", "notifications"}
