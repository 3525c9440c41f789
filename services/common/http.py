"""What the three Flask apps share: problem+json errors, request ids, JSON logs,
health/readiness/metrics routes, the OpenAPI document and offline Swagger UI."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from http import HTTPStatus
from pathlib import Path

import swagger_ui_bundle
from apispec import BasePlugin
from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    jsonify,
    request,
    send_from_directory,
)
from flask_smorest import Api
from marshmallow import Schema, ValidationError, fields
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from services.common import correlation
from services.common.correlation import correlation_id
from services.common.errors import BadRequest, Invalid, SpaError, Unauthenticated, Unavailable
from services.common.redis import STORE_DOWN

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024
# No request of ours nests deeper than a few levels; Python's JSON parser recurses
# once per level and would hit the interpreter's limit (a 500) near 1,000.
MAX_JSON_DEPTH = 32
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
JSON_BRACKET = re.compile(rb"[\[\]{}]")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter("spa_http_requests_total", "HTTP requests", ["service", "method", "status"])
LATENCY = Histogram("spa_http_request_seconds", "HTTP request latency", ["service"])

# Every problem `code` a client can receive, and its HTTP status: the one place a
# code meets a status. The README's table of codes and the OpenAPI document list the
# same words (a test walks this table against both).
STATUS_OF_CODE = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "request_timeout": 408,
    "conflict": 409,
    "slot_unavailable": 409,
    "hold_expired": 409,
    "invalid_transition": 409,
    "conflicts_with_bookings": 409,
    "has_future_bookings": 409,
    "idempotency_conflict": 409,
    "idempotency_in_progress": 409,
    "payload_too_large": 413,
    "uri_too_long": 414,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "outside_booking_window": 422,
    "intake_required": 422,
    "contraindicated": 422,
    "rate_limited": 429,
    "headers_too_large": 431,
    "internal_error": 500,
    "dependency_unavailable": 503,
}
# Errors werkzeug raises before our code runs, by status: the code each answers with.
CODE_OF_HTTP_STATUS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                       404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                       408: "request_timeout", 409: "conflict", 413: "payload_too_large",
                       414: "uri_too_long", 415: "unsupported_media_type",
                       422: "validation_error", 429: "rate_limited",
                       431: "headers_too_large", 503: "dependency_unavailable"}


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error is rendered; `code` is one of the table's
    words, and the other fields come with the codes that carry them."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String(metadata={"description": "a stable machine word",
                                   "enum": list(STATUS_OF_CODE)})
    errors = fields.Dict(metadata={"description": "field -> messages (validation_error)"})
    reasons = fields.List(fields.String(), metadata={
        "description": "the declared contraindications (contraindicated)"})
    alternatives = fields.List(fields.String(), metadata={
        "description": "treatments safe with them at that studio (contraindicated)"})
    earliest = fields.String(metadata={
        "format": "date-time", "description": "the earliest start (outside_booking_window)"})
    latest = fields.String(metadata={
        "format": "date-time", "description": "the latest start (outside_booking_window)"})
    bookings = fields.List(fields.String(), metadata={
        "description": "bookings a catalog change would strand (conflicts_with_bookings), "
                       "or a client's bookings to come (has_future_bookings)"})
    reason = fields.String(metadata={
        "description": "missing or expired: why the intake is needed (intake_required)"})
    holds = fields.List(fields.String(), metadata={
        "description": "live holds it would strand (conflicts_with_bookings)"})


def problems(blp, *codes: str):
    """Document the problem+json answers a route can give, by code (401 and 429 come
    with every /v1 route): one response per status, naming its codes."""
    by_status: dict[int, list[str]] = {}
    for code in ("unauthenticated", "rate_limited", *codes):
        by_status.setdefault(STATUS_OF_CODE[code], []).append(code)

    def decorate(view):
        for status, named in sorted(by_status.items()):
            description = f"{HTTPStatus(status).phrase}: " + ", ".join(named)
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON,
                                    description=description)(view)
        return view

    return decorate


def operation(blp, operation_id: str, status: int = 200,
              **links: tuple[str, dict[str, str]]):
    """Name a route's operation (OpenAPI operationId) and, on its `status` answer, the
    links a client, or a stateful fuzzer, follows to what takes what it returned:
    `name=(operation id, {parameter: runtime expression})`."""
    doc: dict = {"operationId": operation_id}
    if links:
        doc["responses"] = {status: {"links": {
            name: {"operationId": target, "parameters": parameters}
            for name, (target, parameters) in links.items()}}}
    return blp.doc(**doc)


def status_of(code: str) -> int:
    return STATUS_OF_CODE.get(code, 500)


def problem_body(code: str, detail: str, **extra) -> dict:
    status = status_of(code)
    return {"type": f"https://spa.example/problems/{code}",
            "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "code": code, **extra}


def problem(code: str, detail: str, headers: dict | None = None, **extra) -> Response:
    """An RFC 9457 problem+json response for `code`."""
    body = problem_body(code, detail, **extra)
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def raw_problem(code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer carrying problem+json, for what is refused before any
    app runs (services/common/gunicorn_worker.py); the connection closes after it."""
    body = json.dumps(problem_body(code, detail)).encode()
    status = status_of(code)
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


def error_response(error: SpaError) -> Response:
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return problem(error.code, error.detail, headers, **error.extra)


def field_errors(messages: object) -> dict:
    """webargs nests errors by location ({"json": {...}}); partners want just the fields."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    flat: dict = {}
    for location, errors in messages.items():
        if location in ("json", "query", "headers", "form", "path") and isinstance(errors, dict):
            flat.update(errors)
        else:
            flat[location] = errors
    return flat


def handle_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    if status == 422 or "messages" in data or "errors" in data:
        errors = field_errors(data.get("errors") or data.get("messages") or {})
        if _is_bad_json(errors):
            return problem("bad_request", "the request body is not valid JSON")
        return error_response(Invalid(errors=errors))
    code = CODE_OF_HTTP_STATUS.get(status, "internal_error")
    headers = {**dict(error.get_headers()), **(data.get("headers") or {})}
    headers.pop("Content-Type", None)  # its HTML's; ours is problem+json
    return problem(code, error.description or "", headers=headers)


def _is_bad_json(errors: dict) -> bool:
    return any("Invalid JSON body" in str(message) for message in errors.values())


def handle_validation_error(error: ValidationError) -> Response:
    return error_response(Invalid(errors=field_errors(error.messages)))


def handle_store_unavailable(error: Exception) -> Response:
    log.error("redis unavailable", extra={"error": type(error).__name__})
    return error_response(Unavailable("the data store did not answer"))


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.path})
    return error_response(SpaError())


def install_error_handlers(app: Flask) -> None:
    """RFC 9457 problem+json for every error: ours, marshmallow's, Redis's, any other."""
    app.register_error_handler(SpaError, error_response)
    app.register_error_handler(ValidationError, handle_validation_error)
    for store_down in STORE_DOWN:
        app.register_error_handler(store_down, handle_store_unavailable)
    app.register_error_handler(Exception, handle_unexpected)


class ProblemResponses(BasePlugin):
    """An apispec plugin: the error responses flask-smorest documents for every status
    are shown with the media type they are sent with, application/problem+json."""

    def response_helper(self, response: dict, **kwargs) -> dict:
        content = response.get("content") or {}
        body = content.get("application/json")
        if body and str(body.get("schema", {}).get("$ref", "")).endswith("/Problem"):
            response["content"] = {PROBLEM_JSON: body}
        return response


class SpaApi(Api):
    """flask-smorest with RFC 9457 errors, through its documented hooks: the handler of
    HTTP errors it registers, the schema its documented errors show, and a plugin that
    gives them their media type."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: Flask):
        super().__init__(app, spec_kwargs={"extra_plugins": [ProblemResponses()]})

    def handle_http_exception(self, error: HTTPException) -> Response:
        return handle_http_exception(error)


def api_config(title: str) -> dict:
    return {
        "API_TITLE": title, "API_VERSION": "v1", "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/", "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs", "OPENAPI_SWAGGER_UI_URL": "/docs/static/",
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        "API_SPEC_OPTIONS": {"components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}]},
    }


def swagger_static() -> Blueprint:
    """Swagger UI's files from the swagger-ui-bundle wheel: /docs works offline."""
    bp = Blueprint("swagger_static", __name__)
    folder = Path(swagger_ui_bundle.swagger_ui_path)

    @bp.get("/docs/static/<path:name>")
    def static_file(name: str):
        return send_from_directory(folder, name)

    return bp


READY_WITHIN_S = 0.3  # /readyz answers within this, whatever is down
_readiness = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")


def health_blueprint(service: str, checks: dict[str, Callable[[], object]],
                     within_s: float = READY_WITHIN_S) -> Blueprint:
    """/healthz (the process answers), /readyz (every dependency answers, checked in
    parallel; one that has not answered within `within_s` is not ready), /metrics."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz():
        return jsonify(status="ok", service=service)

    @bp.get("/readyz")
    def readyz():
        failed = {name: reason for name, reason in run_checks(checks, within_s).items()
                  if reason is not None}
        if failed:
            return problem("dependency_unavailable", "not ready", checks=failed)
        return jsonify(status="ready", service=service, checks=dict.fromkeys(checks, "ok"))

    @bp.get("/metrics")
    def metrics():
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return bp


def run_checks(checks: dict[str, Callable[[], object]], within_s: float) -> dict:
    """Name -> None when the check passed, else why not. A check still running at the
    deadline is reported as not answering; its thread finishes on its own timeout."""
    running = {name: _readiness.submit(_check, check) for name, check in checks.items()}
    wait(running.values(), timeout=within_s)
    return {name: future.result() if future.done()
            else f"no answer within {within_s * 1000:.0f} ms"
            for name, future in running.items()}


def _check(check: Callable[[], object]) -> str | None:
    try:
        check()
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return f"{type(error).__name__}: {error}"[:200]
    return None


def nested_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text opens more than `limit` arrays or objects inside each other
    (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, decided in C
    depth = 0
    for bracket in JSON_BRACKET.findall(JSON_STRING.sub(b'""', body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


CORRELATION_TOKEN = "spa.correlation_token"


def install_request_hooks(app: Flask, service: str) -> None:
    """Request id in and out, a JSON access log line, Prometheus counters, and JSON
    bodies no deeper than MAX_JSON_DEPTH."""

    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # what events and logs carry; the token is the request's own (`g` is shared
        # by a request made while another is served, as some tests do)
        request.environ[CORRELATION_TOKEN] = correlation.bind(g.request_id)
        g.started = time.perf_counter()
        if request.is_json and nested_too_deep(request.get_data(cache=True)):
            raise BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")

    @app.after_request
    def finish_request(response: Response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        REQUESTS.labels(service, request.method, response.status_code).inc()
        LATENCY.labels(service).observe(elapsed)
        log.info("request", extra={"method": request.method, "path": request.path,
                                   "status": response.status_code,
                                   "ms": round(elapsed * 1000, 2)})
        return response

    @app.teardown_request
    def end_request(error: BaseException | None) -> None:
        if token := request.environ.pop(CORRELATION_TOKEN, None):  # a kept thread
            correlation.unbind(token)  # serves other requests next


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Only whitelisted fields: never customer data."""

    SAFE = ("service", "method", "path", "status", "ms", "event_id", "type", "queue", "error",
            "attempt", "job", "booking", "studio", "hold", "channel", "kind", "queues")

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record), "level": record.levelname,
                 "logger": record.name, "msg": record.getMessage()}
        entry["request_id"] = correlation_id()
        entry.update({k: getattr(record, k) for k in self.SAFE if hasattr(record, k)})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
