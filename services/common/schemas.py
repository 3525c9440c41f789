"""marshmallow schemas every service's API documents the same way."""

from __future__ import annotations

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """RFC 9457 problem details, as services/common/http.py renders every error."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String(metadata={"description": "a stable machine word"})
    errors = fields.Dict(metadata={"description": "field -> messages, on 422"})


class MoneySchema(Schema):
    amount = fields.String(metadata={"example": "120.00", "description": "a decimal string"})
    currency = fields.String(metadata={"example": "GBP"})
