"""Sign-in with an API key, kept in the server-side session; every other page needs it.

The key is checked by asking the API for the key's studios: the API, not the desk,
decides who is who. Signing in starts a new session id (no fixation); signing out
deletes the session from the store, so a copied cookie is worth nothing after."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import requests
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from services.desk.public_api import ApiProblem, PublicApi

bp = Blueprint("auth", __name__)

def api() -> PublicApi:
    """The public API as the signed-in person (one client per request)."""
    if "api" not in g:
        g.api = PublicApi(current_app.config["SPA_API_URL"], session["key"])
    return g.api


def signed_in(view: Callable) -> Callable:
    """Pages need a session; without one, the sign-in page (and back here after)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if "key" not in session:
            if request.method != "GET":
                return redirect(url_for("auth.sign_in"))
            return redirect(url_for("auth.sign_in", next=request.full_path))
        return view(*args, **kwargs)
    return wrapped


@bp.get("/sign-in")
def sign_in():
    return render_template("sign_in.html", next=safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_with_key():
    key = request.form.get("key", "").strip()
    try:
        studios = PublicApi(current_app.config["SPA_API_URL"], key).studios() if key else None
    except ApiProblem as problem:
        if problem.status != 401:
            raise
        studios = None
    if studios is None:
        flash("That API key was not accepted.", "error")
        return render_template("sign_in.html", next=safe_next(request.form.get("next"))), 401
    start_session(key, studios)
    return redirect(safe_next(request.form.get("next")) or url_for("pages.day"))


def start_session(key: str, studios: list[dict]) -> None:
    session.clear()
    current_app.session_interface.regenerate(session)
    session["key"] = key
    session["studios"] = [s["id"] for s in studios]


@bp.post("/sign-out")
def sign_out():
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.sign_in"))


def signed_out_by_api():
    """The API no longer takes the key (revoked, or the partner closed): end the session."""
    session.clear()
    flash("Your API key is no longer accepted; sign in again.", "error")
    return redirect(url_for("auth.sign_in"))


def safe_next(target: str | None) -> str:
    """Only a path of the desk itself: never a redirect to another site."""
    if target and target.startswith("/desk/") and not target.startswith("//"):
        return target
    return ""


def api_check(base_url: str) -> Callable[[], None]:
    """Readiness: the gateway in front of the API answers (run outside a request)."""
    def check() -> None:
        requests.get(base_url + "/booking/healthz", timeout=0.3).raise_for_status()
    return check
