"""The dev gateway: one base URL for the three services (nginx plays this role in
docker-compose). It routes by path, merges the three OpenAPI documents into one,
and serves Swagger UI offline. It holds no state and checks no keys: each service
authenticates every request itself."""

from __future__ import annotations

import os
import threading

import requests
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from services.common.http import (
    handle_http_exception,
    health_blueprint,
    install_error_handlers,
    problem,
    swagger_static,
)
from services.gateway.passthrough import Passthrough

# Path prefix -> service. Longest match wins; `/<service>/...` reaches a service's
# own routes (e.g. /booking/healthz).
ROUTES = {
    "/v1/studios": "availability", "/v1/rooms": "availability", "/v1/addons": "availability",
    "/v1/therapists": "availability", "/v1/treatments": "availability",
    "/v1/slots": "availability", "/v1/holds": "booking", "/v1/bookings": "booking",
    "/v1/clients": "booking", "/v1/waitlist": "booking",
    "/v1/webhooks": "notifications", "/v1/notifications": "notifications",
}
SERVICES = ("availability", "booking", "notifications")
PAGES = "/desk"  # the front desk's pages, forwarded with their path as it is
READY_PATHS = {"desk": "/desk/readyz"}  # else /readyz

_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def upstreams_from_env() -> dict[str, str]:
    defaults = {"availability": "8002", "booking": "8001", "notifications": "8003",
                "desk": "8004"}
    upstreams = {}
    for name, default_port in defaults.items():
        port = os.environ.get(f"SPA_{name.upper()}_PORT", default_port)
        upstreams[name] = os.environ.get(f"SPA_{name.upper()}_URL", f"http://127.0.0.1:{port}")
    return upstreams


def route(path: str) -> tuple[str, str] | None:
    """(service, upstream path) for a request path, or None."""
    if path == PAGES or path.startswith(PAGES + "/"):
        return "desk", path
    for service in SERVICES:
        prefix = f"/{service}"
        if path == prefix or path.startswith(prefix + "/"):
            return service, path[len(prefix):] or "/"
    matches = [p for p in ROUTES if path == p or path.startswith(p + "/")]
    if not matches:
        return None
    return ROUTES[max(matches, key=len)], path


def merged_openapi(upstreams: dict[str, str]) -> dict:
    """The partner contract: the three services' documents as one."""
    merged: dict = {}
    for service in SERVICES:
        doc = _session().get(f"{upstreams[service]}/v1/openapi.json", timeout=5).json()
        if not merged:
            merged = {**doc, "paths": {}, "tags": [],
                      "components": {**doc.get("components", {}), "schemas": {}}}
            merged["info"] = {**doc.get("info", {}), "title": "Spa reservations API"}
        merged["paths"].update(doc.get("paths", {}))
        merged["tags"] += doc.get("tags", [])
        merged["components"]["schemas"].update(doc.get("components", {}).get("schemas", {}))
    return merged


def create_app(upstreams: dict[str, str] | None = None) -> Flask:
    upstreams = upstreams or upstreams_from_env()
    app = Flask("gateway")
    install_error_handlers(app)  # its own errors are problem+json, as the services' are
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_blueprint(health_blueprint("gateway", {
        name: _ready_check(url + READY_PATHS.get(name, "/readyz"))
        for name, url in upstreams.items()}, within_s=0.45))
    app.register_blueprint(swagger_static())

    @app.get("/v1/openapi.json")
    def openapi():
        return jsonify(merged_openapi(upstreams))

    @app.get("/docs")
    def docs():
        return Response(SWAGGER_PAGE, mimetype="text/html")

    # What `route` maps to a service never reaches Flask (passthrough.py); the rest of
    # every method is a 404 here.
    @app.route("/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                        "OPTIONS"], provide_automatic_options=False)
    def unrouted(path: str):
        return problem("not_found", "no such route")

    app.wsgi_app = Passthrough(app.wsgi_app, upstreams, route)  # type: ignore[method-assign]
    return app


def _ready_check(url: str):
    """Each service answers its /readyz within 0.3 s; the gateway asks them all at once."""
    def check():
        requests.get(url, timeout=0.4).raise_for_status()
    return check


SWAGGER_PAGE = """<!DOCTYPE html>
<html><head><title>Spa reservations API</title>
<link href="/docs/static/swagger-ui.css" rel="stylesheet" type="text/css"/></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.onload = () => { window.ui = SwaggerUIBundle(
  {url: "/v1/openapi.json", dom_id: "#swagger-ui"}); };</script>
</body></html>
"""
