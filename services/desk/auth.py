"""Sign-in with an API key, kept in the server-side session; every other page needs it.

The key is checked by asking the API for the key's studios: the API, not the desk,
decides who is who. Signing in starts a new session id (no fixation); signing out
deletes the session from the store, so a copied cookie is worth nothing after. A
session ends at the latest `desk_session_h` after sign-in, however busy it was.

htmx's requests (the day's polling) are not sent to the sign-in page: that page would
be swapped into the day; they answer with `HX-Redirect`, and the whole page goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

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
            return to_sign_in()
        if session.get("until", 0) < time.time():
            return end_session("Your session has ended; sign in again.")
        return view(*args, **kwargs)
    return wrapped


def to_sign_in():
    """The sign-in page, then back to the page the person was on."""
    url = url_for("auth.sign_in", next=came_from() or None)
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url}
    return redirect(url)


def came_from() -> str:
    """The desk page asked for (for htmx, the page that asked); none for a form sent."""
    if request.headers.get("HX-Request"):
        page = urlsplit(request.headers.get("HX-Current-URL", ""))
        return safe_next(page.path + (f"?{page.query}" if page.query else ""))
    return safe_next(request.full_path) if request.method == "GET" else ""


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
    session["key"] = key
    session["studios"] = [s["id"] for s in studios]
    session["until"] = time.time() + current_app.permanent_session_lifetime.total_seconds()
    new_session_id()


def new_session_id() -> None:
    """What the session now holds, under a new id; the old id is deleted from the store.
    (Flask-Session renews only a session that holds something.)"""
    current_app.session_interface.regenerate(session)


@bp.post("/sign-out")
def sign_out():
    session.clear()
    flash("Signed out.", "info")
    new_session_id()
    return redirect(url_for("auth.sign_in"))


def end_session(why: str):
    session.clear()
    flash(why, "error")
    new_session_id()
    return to_sign_in()


def signed_out_by_api():
    """The API no longer takes the key (revoked, or the partner closed): end the session."""
    return end_session("Your API key is no longer accepted; sign in again.")


def safe_next(target: str | None) -> str:
    """Only a path of the desk itself: never a redirect to another site, nor a header
    broken by a control character."""
    if not target or not target.startswith("/desk/") or not target.isprintable():
        return ""
    if "\\" in target or ".." in urlsplit(target).path.split("/"):
        return ""
    return target


def api_check(base_url: str) -> Callable[[], None]:
    """Readiness: the gateway in front of the API answers (run outside a request)."""
    def check() -> None:
        requests.get(base_url + "/booking/healthz", timeout=0.3).raise_for_status()
    return check
