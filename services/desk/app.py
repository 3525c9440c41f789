"""The front desk: a studio's day as web pages, for reception, studio managers and city
admins. `create_app(config=None)`, the Flask tutorial's factory.

It is a pure client of the public API (services/desk/public_api.py) with the
signed-in person's key: no Redis of the product, no bus, no other service's code.
The key lives only in the server-side session (files under the data dir); the
browser holds an opaque session id in an HttpOnly, SameSite=Strict cookie, Secure
when the request came over HTTPS."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from cachelib.file import FileSystemCache
from flask import Flask, render_template, request
from flask_session.cachelib import CacheLibSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from services.common.config import Settings, load_settings
from services.common.http import configure_logging, health_blueprint, install_request_hooks
from services.desk import auth, pages
from services.desk.public_api import ApiProblem

PREFIX = "/desk"


class SessionInterface(CacheLibSessionInterface):
    """Flask-Session's file store, with the cookie Secure exactly when the page was
    served over HTTPS (nginx says so in X-Forwarded-Proto)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def create_app(config: dict | None = None) -> Flask:
    settings = load_settings().with_overrides(config)
    configure_logging(settings.log_level)
    app = Flask(__name__, static_url_path=f"{PREFIX}/static")
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    app.config.update(flask_config(settings))
    install_session(app, settings)
    CSRFProtect(app)
    install_request_hooks(app, "desk")
    app.register_blueprint(auth.bp, url_prefix=PREFIX)
    app.register_blueprint(pages.bp, url_prefix=PREFIX)
    ready = {"api": auth.api_check(api_base_url(settings))}
    app.register_blueprint(health_blueprint("desk", ready), url_prefix=PREFIX)
    install_error_pages(app)
    app.after_request(page_headers)
    app.add_template_filter(local_time, "local")
    app.add_template_filter(money, "money")
    return app


def local_time(instant: str, zone, fmt: str = "%H:%M") -> str:
    """An instant from the API as the studio's wall-clock time."""
    if not instant:
        return ""
    return datetime.fromisoformat(instant).astimezone(zone).strftime(fmt)


def money(amount: dict | None) -> str:
    return f"{amount['amount']} {amount['currency']}" if amount else ""


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def page_headers(response):
    """Pages hold client names: not kept by the browser (Back after signing out shows
    nothing), not framed, no script but the desk's own."""
    if not request.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def api_base_url(settings: Settings) -> str:
    return settings.desk_api_url or f"http://127.0.0.1:{settings.gateway_port}"


def flask_config(settings: Settings) -> dict:
    return {
        "SECRET_KEY": secret_key(settings),
        "SPA_API_URL": api_base_url(settings),
        "SESSION_COOKIE_NAME": "spa_desk",
        "SESSION_COOKIE_PATH": PREFIX,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings.desk_session_h),
        "SESSION_REFRESH_EACH_REQUEST": False,  # the lifetime counts from sign-in
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "WTF_CSRF_SSL_STRICT": False,  # SameSite=Strict already keeps other sites out
        "MAX_CONTENT_LENGTH": 64 * 1024,
        **settings.extra,
    }


def install_session(app: Flask, settings: Settings) -> None:
    store = FileSystemCache(str(settings.data_dir / "desk-sessions"), threshold=10_000,
                            mode=0o600)
    app.session_interface = SessionInterface(client=store, key_prefix="desk:",
                                             use_signer=False, permanent=True,
                                             sid_length=32, serialization_format="json")


def secret_key(settings: Settings) -> str:
    """SPA_DESK_SECRET, else one made once into the data dir (shared by every worker
    of this host: the first writes it, the others read it)."""
    if settings.desk_secret:
        return settings.desk_secret
    path = Path(settings.data_dir) / "desk.secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(os.urandom(32).hex())
    return path.read_text().strip()


def install_error_pages(app: Flask) -> None:
    """Errors as pages a receptionist can read; an API refusal keeps its own words."""

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        return render_template("error.html", status=400, title="Form expired",
                               detail="This form was not sent by the desk's page, or the "
                                      "session changed since. Reload the page and try again."), 400

    @app.errorhandler(ApiProblem)
    def api_refused(error: ApiProblem):
        if error.status == 401:
            return auth.signed_out_by_api()
        status = error.status if error.status in (403, 404, 409, 422, 429, 503) else 502
        return render_template("error.html", status=status, title=TITLES.get(status, "Error"),
                               detail=error.detail), status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("error.html", status=error.code, title=error.name,
                               detail=error.description), error.code


TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Not possible",
          429: "Too many requests", 502: "Error from the reservation service",
          503: "Reservation service unavailable"}
