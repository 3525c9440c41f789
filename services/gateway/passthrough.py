"""The gateway's hop, as nginx would make it: no framework on the way, the request's
own target and body, one kept-alive connection per thread and service.

Only what `route` maps to a service goes this way; everything else (the gateway's
health, the merged OpenAPI document, Swagger UI, a 404) is the Flask app's.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from urllib3.util.wait import wait_for_read

from services.common.http import PROBLEM_JSON, problem_body

# Not forwarded either way: they describe one connection, not the message.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
UPSTREAM_TIMEOUT_S = 30.0

Route = Callable[[str], "tuple[str, str] | None"]


class Passthrough:
    def __init__(self, app, upstreams: dict[str, str], route: Route):
        self.app = app
        self.route = route
        self.upstreams = {name: urlsplit(url) for name, url in upstreams.items()}
        self.local = threading.local()

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        target = self.route(environ.get("PATH_INFO", ""))
        if target is None:
            return self.app(environ, start_response)
        service, upstream_path = target
        try:
            status, headers, body = self.forward(environ, service, upstream_path)
        except (OSError, http.client.HTTPException):
            self.drop(service)
            status, headers, body = unavailable()
        start_response(status, headers)
        return [body]

    def forward(self, environ: dict, service: str,
                upstream_path: str) -> tuple[str, list[tuple[str, str]], bytes]:
        connection, method = self.connection(service), environ["REQUEST_METHOD"]
        connection.request(method, self.target(environ, service, upstream_path),
                           body=read_body(environ), headers=request_headers(environ))
        response = connection.getresponse()
        body = response.read()
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        # The length of what was sent (chunks joined); a HEAD answer keeps the GET's.
        length = response.getheader("Content-Length") if method == "HEAD" else None
        headers.append(("Content-Length", length or str(len(body))))
        return f"{response.status} {response.reason}", headers, body

    def target(self, environ: dict, service: str, upstream_path: str) -> str:
        """The request's own target (as sent: nothing decoded and re-encoded), with a
        `/<service>` prefix taken off."""
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw is None:
            query = environ.get("QUERY_STRING")
            raw = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        prefix = f"/{service}"
        if upstream_path != environ.get("PATH_INFO") and raw.startswith(prefix):
            raw = raw[len(prefix):] or "/"
            raw = raw if raw.startswith("/") else "/" + raw
        return self.upstreams[service].path.rstrip("/") + raw

    def connection(self, service: str) -> http.client.HTTPConnection:
        """This thread's connection to the service, new if the service closed it."""
        connections = self.local.__dict__.setdefault("connections", {})
        connection = connections.get(service)
        if connection is None or dropped(connection):
            if connection is not None:
                connection.close()
            upstream = self.upstreams[service]
            connection = connections[service] = http.client.HTTPConnection(
                upstream.hostname, upstream.port, timeout=UPSTREAM_TIMEOUT_S)
        return connection

    def drop(self, service: str) -> None:
        connection = self.local.__dict__.get("connections", {}).pop(service, None)
        if connection is not None:
            connection.close()


def dropped(connection: http.client.HTTPConnection) -> bool:
    """A kept-alive connection the other side closed (readable while idle: EOF).
    Checked before reuse, as urllib3 does, so no request is sent into a dead socket."""
    return connection.sock is not None and wait_for_read(connection.sock, timeout=0.0)


def read_body(environ: dict) -> bytes | None:
    """The whole body: the worker (services/common/gunicorn_worker.py) has it in hand,
    at most 64 KB, before this thread sees the request, so no read waits on a client."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        return stream.read(int(length))
    body = stream.read() if environ["REQUEST_METHOD"] not in ("GET", "HEAD") else b""
    return body or None


def request_headers(environ: dict) -> dict[str, str]:
    headers = {name[5:].replace("_", "-").title(): value for name, value in environ.items()
               if name.startswith("HTTP_")}
    headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    # The client's address, for the services' per-address rate limit (they trust one
    # proxy: the last address in this list).
    forwarded = headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = ", ".join(filter(None, (forwarded,
                                                          environ.get("REMOTE_ADDR"))))
    return headers


def unavailable() -> tuple[str, list[tuple[str, str]], bytes]:
    body = json.dumps(problem_body("dependency_unavailable", "the service did not answer"))
    return "503 Service Unavailable", [("Content-Type", PROBLEM_JSON),
                                       ("Content-Length", str(len(body)))], body.encode()
