"""The notifications HTTP app: `create_app(config=None)`, the Flask tutorial's factory."""

from __future__ import annotations

from flask import Flask

from services.common.clock import Clock
from services.common.config import load_settings
from services.common.service import Infra, base_app
from services.notifications import api
from services.notifications.bootstrap import bootstrap


def create_app(config: dict | None = None, clock: Clock | None = None) -> Flask:
    infra = Infra.from_settings(load_settings().with_overrides(config))
    context = bootstrap(infra, clock)
    app, smorest = base_app("notifications", "Spa notifications API", infra, context.clock)
    app.extensions["spa"] = context
    smorest.register_blueprint(api.blp)
    return app
