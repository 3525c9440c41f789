"""The correlation id of the work being done now: the request an HTTP app serves
(`http.py` binds it per request), carried into the events and logs that request
causes. A context variable, not Flask's `g`, so domain and saga code can read it
without depending on the HTTP layer; outside a bound unit of work it is empty."""

from __future__ import annotations

from contextvars import ContextVar, Token

_CURRENT: ContextVar[str] = ContextVar("correlation_id", default="")


def correlation_id() -> str:
    """The id bound now ("" when nothing is)."""
    return _CURRENT.get()


def bind(value: str) -> Token[str]:
    """Bind `value` until `unbind` is given the token returned."""
    return _CURRENT.set(value)


def unbind(token: Token[str]) -> None:
    _CURRENT.reset(token)
