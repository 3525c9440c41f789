"""One way to fail: every refusal the product gives is one of these exceptions.

Each carries a stable `code` (the word partners program against), a `detail` for
people, and `extra` fields that travel with it (field errors, reasons, alternatives).
None knows an HTTP status: only the HTTP layer maps a code to one
(`services/common/http.py`, one table), so the domain, the saga and the RPC speak
the same words whether the caller is a partner, another service or the CLI.

Over RPC an error travels as `{code, detail, extra}` and is raised again on the
calling side as the class registered for its code (`from_wire`).
"""

from __future__ import annotations

from typing import ClassVar

_BY_CODE: dict[str, type[SpaError]] = {}


class SpaError(Exception):
    """A refusal with a stable code. Subclasses name their code once; a subclass that
    sets no code of its own shares its parent's (e.g. `RpcTimeout`)."""

    code: ClassVar[str] = "internal_error"
    default_detail: ClassVar[str] = "an unexpected error; it has been logged"
    retry_after_s: int | None = None  # a client may try again after this long

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            _BY_CODE.setdefault(cls.code, cls)

    def __init__(self, detail: str = "", **extra) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def to_wire(self) -> dict:
        return {"code": self.code, "detail": self.detail, "extra": self.extra}


_BY_CODE[SpaError.code] = SpaError


def from_wire(error: dict) -> SpaError:
    """The exception an RPC reply carries, as the class of its code (unknown codes
    arrive as a plain SpaError that keeps the code, for the caller to translate)."""
    code = str(error.get("code") or SpaError.code)
    cls = _BY_CODE.get(code, SpaError)
    raised = cls(str(error.get("detail") or ""), **(error.get("extra") or {}))
    if cls is SpaError and code != SpaError.code:
        raised.code = code  # an instance attribute: the class keeps its own
    return raised


def registered_codes() -> dict[str, type[SpaError]]:
    """Every code a SpaError can carry, with its class (the HTTP table must map each)."""
    return dict(_BY_CODE)


# The families ------------------------------------------------------------------------

class BadRequest(SpaError):
    code = "bad_request"
    default_detail = "the request cannot be read"


class Unauthenticated(SpaError):
    code = "unauthenticated"
    default_detail = "a valid API key is required"


class Forbidden(SpaError):
    code = "forbidden"
    default_detail = "this key may not do that"


class NotFound(SpaError):
    code = "not_found"
    default_detail = "no such resource"


class Conflict(SpaError):
    """The request is well formed but the state of things refuses it now."""

    code = "conflict"
    default_detail = "it changed meanwhile; read it again"


class Invalid(SpaError):
    """Some fields are invalid; `errors` maps each field to its messages."""

    code = "validation_error"
    default_detail = "some fields are invalid"

    @classmethod
    def field(cls, name: str, message: str, detail: str = "") -> Invalid:
        return cls(detail, errors={name: [message]})


class RateLimited(SpaError):
    code = "rate_limited"
    default_detail = "too many requests"

    def __init__(self, retry_after_s: int, detail: str = "") -> None:
        super().__init__(detail or f"too many requests; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Unavailable(SpaError):
    """A dependency (the data store, the broker, another service) did not answer."""

    code = "dependency_unavailable"
    default_detail = "a service this request needs did not answer; try again"
    retry_after_s = 1


# Codes with their own meaning ---------------------------------------------------------

class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    default_detail = "no therapist and room are free at that time"


class HoldExpired(Conflict):
    code = "hold_expired"
    default_detail = "the hold passed its expires_at"


class InvalidTransition(Conflict):
    code = "invalid_transition"

    @classmethod
    def between(cls, status: str, wanted: str) -> InvalidTransition:
        return cls(f"a {status} booking cannot become {wanted}")


class ConflictsWithBookings(Conflict):
    """A catalog change that would strand bookings or live holds (listed in extra)."""

    code = "conflicts_with_bookings"


class HasFutureBookings(Conflict):
    """A client with bookings still to come cannot be erased unless they are cancelled
    (`cancel_future=true`); `bookings` lists them."""

    code = "has_future_bookings"
    default_detail = "the client has bookings to come: cancel them first, or ask to"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_detail = "this Idempotency-Key was used with a different body"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_detail = "a request with this Idempotency-Key is still running; retry shortly"
    retry_after_s = 1


class OutsideBookingWindow(Invalid):
    """The start is sooner than the minimum notice, or further ahead than the studio
    takes bookings; `earliest` and `latest` say when it could be."""

    code = "outside_booking_window"
    default_detail = "that start is outside the booking window"


class IntakeRequired(Invalid):
    code = "intake_required"
    default_detail = "this treatment needs the client's intake"


class Contraindicated(Invalid):
    """The intake declares something the treatment is not safe with."""

    code = "contraindicated"

    def __init__(self, detail: str = "", reasons: tuple[str, ...] | list[str] = (),
                 alternatives: tuple[str, ...] | list[str] = (), **extra) -> None:
        super().__init__(detail or f"not safe with: {', '.join(reasons)}",
                         reasons=list(reasons), alternatives=list(alternatives), **extra)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(self.extra["reasons"])
