"""HTTP routes of notifications (thin: parse, call a handler, render)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import RAISE

from services.common.auth import current_principal
from services.common.http import operation, problems
from services.notifications import handlers
from services.notifications.bootstrap import Context
from services.notifications.schemas import (
    NewWebhookSchema,
    NotificationListSchema,
    NotificationQuerySchema,
    NotificationSchema,
    WebhookInSchema,
    WebhookListSchema,
)

blp = Blueprint("notifications", __name__, url_prefix="/v1",
                description="Webhooks and the delivery log of emails and webhooks")


def ctx() -> Context:
    return current_app.extensions["spa"]


@blp.post("/webhooks")
@operation(blp, "createWebhook", 201,
           DeleteWebhook=("deleteWebhook", {"endpoint_id": "$response.body#/id"}))
@blp.arguments(WebhookInSchema)
@blp.response(201, NewWebhookSchema)
@problems(blp, "validation_error")
def create_webhook(command):
    """Register an endpoint; its secret is in this answer only."""
    return handlers.register_webhook(ctx(), current_principal(), command)


@blp.get("/webhooks")
@operation(blp, "listWebhooks")
@blp.response(200, WebhookListSchema)
@problems(blp)
def list_webhooks():
    """The caller's own endpoints (without their secrets)."""
    return {"items": handlers.own_webhooks(ctx(), current_principal())}


@blp.delete("/webhooks/<endpoint_id>")
@operation(blp, "deleteWebhook")
@blp.response(204)
@problems(blp, "not_found")
def delete_webhook(endpoint_id: str):
    handlers.delete_webhook(ctx(), current_principal(), endpoint_id)


@blp.get("/notifications")
@operation(blp, "listNotifications", 200,
           GetNotification=("getNotification", {"delivery_id": "$response.body#/items/0/id"}),
           RedeliverNotification=("redeliverNotification",
                                  {"delivery_id": "$response.body#/items/0/id"}))
@blp.arguments(NotificationQuerySchema, location="query", unknown=RAISE)
@blp.response(200, NotificationListSchema)
@problems(blp, "validation_error")
def list_notifications(query: dict):
    """A booking's delivery log: every email and webhook, with its attempts."""
    return {"items": handlers.booking_log(ctx(), current_principal(), query["booking"])}


@blp.get("/notifications/<delivery_id>")
@operation(blp, "getNotification")
@blp.response(200, NotificationSchema)
@problems(blp, "not_found")
def get_notification(delivery_id: str):
    return handlers.one_delivery(ctx(), current_principal(), delivery_id)


@blp.post("/notifications/<delivery_id>/redeliver")
@operation(blp, "redeliverNotification")
@blp.response(202, NotificationSchema)
@problems(blp, "not_found")
def redeliver(delivery_id: str):
    """Send it again (the worker does, within a second); a webhook keeps its
    webhook-id, so a receiver that already has it can tell."""
    return handlers.redeliver(ctx(), current_principal(), delivery_id)
