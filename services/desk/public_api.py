"""The desk's only way to the product: the public HTTP API, called with the signed-in
person's API key. A problem+json answer becomes an `ApiProblem` the pages show as
it is; the desk never decides a rule the API decides."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

TIMEOUT_S = 10  # booking waits up to its RPC timeout (5 s) before it answers 503
REPLAY_WAIT_S = (0.2, 0.3, 0.5, 1.0, 1.0, 1.0, 1.0)  # a double submit waits for the first


@dataclass
class ApiProblem(Exception):
    """What the API refused, as it said it (RFC 9457)."""

    status: int
    code: str
    detail: str = ""
    body: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail or self.code


UNREACHABLE = "the reservation service is not answering; try again in a moment"


class PublicApi:
    """A thin client: one method per route the desk uses, JSON in and out."""

    def __init__(self, base_url: str, key: str, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = session or requests.Session()
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, **kwargs) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = self.http.request(method, self.base_url + path, headers=headers,
                                         timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException:
            raise ApiProblem(503, "dependency_unavailable", UNREACHABLE) from None
        if response.status_code >= 400:
            raise problem_of(response)
        return response.json() if response.content else None

    # Catalog and the day --------------------------------------------------------------

    def studios(self) -> list[dict]:
        return self.call("GET", "/v1/studios")["items"]

    def treatments(self) -> list[dict]:
        return self.call("GET", "/v1/treatments")["items"]

    def schedule(self, studio: str, day: date) -> dict:
        return self.call("GET", f"/v1/studios/{segment(studio)}/schedule",
                         params={"date": day.isoformat()})

    def slots(self, studio: str, day: date, treatment: str, duration: int,
              addons: list[str]) -> list[dict]:
        params = {"studio": studio, "treatment": treatment, "duration": duration,
                  "from": day.isoformat(), "to": day.isoformat()}
        if addons:
            params["addons"] = ",".join(addons)
        return self.call("GET", "/v1/slots", params=params)["items"]

    # Bookings -----------------------------------------------------------------------

    def bookings_between(self, studio: str, start: datetime, end: datetime) -> list[dict]:
        """Every booking starting in [start, end), all pages."""
        params: dict = {"studio": studio, "from": start.isoformat(), "to": end.isoformat(),
                        "limit": 100}
        found: list[dict] = []
        while True:
            page = self.call("GET", "/v1/bookings", params=params)
            found += page["items"]
            if not page.get("next_cursor"):
                return found
            params["cursor"] = page["next_cursor"]

    def booking(self, booking_id: str) -> dict:
        return self.call("GET", f"/v1/bookings/{segment(booking_id)}")

    def notifications(self, booking_id: str) -> list[dict]:
        return self.call("GET", "/v1/notifications", params={"booking": booking_id})["items"]

    def act(self, booking_id: str, action: str, body: dict | None = None) -> dict:
        """complete, no-show, cancel or reschedule."""
        return self.call("POST", f"/v1/bookings/{segment(booking_id)}/{action}", json=body or {})

    def book(self, body: dict, idempotency_key: str) -> dict:
        """Book once per key: a second submit of the same form, sent while the first is
        still being booked, waits for it and answers with the same booking."""
        headers = {"Idempotency-Key": idempotency_key}
        for wait_s in REPLAY_WAIT_S:
            try:
                return self.call("POST", "/v1/bookings", json=body, headers=headers)
            except ApiProblem as problem:
                if problem.code != "idempotency_in_progress":
                    raise
            time.sleep(wait_s)
        return self.call("POST", "/v1/bookings", json=body, headers=headers)


def segment(text: str) -> str:
    """An id from a URL or a form as one path segment of the API's URL: a `?`, `/` or
    `..` in it cannot reach another route or add a query."""
    if text in ("", ".", ".."):
        raise ApiProblem(404, "not_found", "no such page")
    return quote(text, safe="")


def problem_of(response: requests.Response) -> ApiProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiProblem(response.status_code, body.get("code", "error"),
                      body.get("detail", response.reason or ""), body)


def new_idempotency_key() -> str:
    """One per form shown: a double submit of the same form books once."""
    return f"desk-{uuid.uuid4().hex}"


def day_bounds(day: date, zone) -> tuple[datetime, datetime]:
    """Local midnight to the next, as instants (23 or 25 hours apart on a clock change)."""
    start = datetime.combine(day, datetime.min.time(), zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
