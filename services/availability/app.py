"""The availability HTTP app: `create_app(config=None)`, the Flask tutorial's factory."""

from __future__ import annotations

from flask import Flask

from services.availability import api, schemas
from services.availability.bootstrap import bootstrap
from services.common.clock import Clock
from services.common.config import load_settings
from services.common.schemas import Amount
from services.common.service import Infra, base_app


def create_app(config: dict | None = None, clock: Clock | None = None) -> Flask:
    infra = Infra.from_settings(load_settings().with_overrides(config))
    context = bootstrap(infra, clock)
    app, smorest = base_app("availability", "Spa availability API", infra, context.clock)
    app.extensions["spa"] = context
    # The catalog's own field types, as the OpenAPI document should show them.
    smorest.register_field(schemas.Hours, "string", None)
    smorest.register_field(schemas.DateOrInstant, "string", None)
    smorest.register_field(schemas.WeeklyHours, "object", None)
    smorest.register_field(schemas.Weekdays, "array", None)
    smorest.register_field(schemas.EpochInstant, "string", "date-time")
    smorest.register_field(Amount, "string", "decimal")
    smorest.register_blueprint(api.blp)
    return app
