"""A client who asked to be forgotten: `client.erased` scrubs the delivery log, the
reminders never go out, and events that arrive later are read as erased. The export's
RPC lists what was sent."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from services.common.bus import Envelope
from services.common.rpc import RpcClient, RpcServer
from services.notifications import handlers, queues
from tests.helpers import running_worker
from tests.integration.notifications.support import publish, receiving
from tests.unit.notifications.samples import booking_payload, cancelled, envelope


def erased(*bookings: str) -> Envelope:
    return Envelope(type="client.erased", payload={"client": "cl_x", "bookings": list(bookings)},
                    source="booking", city="london", correlation_id="req-test")


def booked_in(clock, hours: float, **kwargs) -> dict:
    return booking_payload((clock.now() + timedelta(hours=hours)).replace(microsecond=0),
                           **kwargs)


def stored(ctx, booking: str) -> str:
    return json.dumps([d.__dict__ for d in ctx.store.for_booking(booking)])


def test_erasure_scrubs_the_log_and_the_reminders_never_go_out(ctx, clock, worker, api,
                                                               smtp_server):
    address = f"forget.me.{uuid.uuid4().hex[:8]}@example.com"  # the SMTP server is the session's
    payload = booked_in(clock, 26, email=address)
    booking = payload["booking"]["id"]
    publish(ctx, envelope("booking.created", payload))
    api.wait_for_entry(booking, "confirmation", "sent")
    assert api.entry(booking, "reminder")["status"] == "pending"
    handlers.on_client_erased(ctx, erased(booking))
    assert address not in stored(ctx, booking) and "forget.me" not in stored(ctx, booking)
    assert payload["booking"]["customer"]["name"] not in stored(ctx, booking)
    for kind in ("reminder", "last_meal"):
        entry = api.entry(booking, kind)
        assert (entry["status"], entry["last_error"]) == ("failed",
                                                          "dropped: the client was erased")
    assert api.entry(booking, "confirmation")["status"] == "sent"  # the log keeps its facts
    clock.advance(hours=26)
    handlers.on_client_erased(ctx, erased(booking))  # again: harmless
    assert ctx.store.due_ids(clock.now().timestamp()) == []
    assert len([m for m in smtp_server.messages if m["To"] == address]) == 1


def test_an_event_that_arrives_after_the_erasure_is_read_as_erased(ctx, clock, api):
    with receiving() as partner:
        api.add_webhook(partner.url, ["booking.cancelled"], as_="partner")
        payload = booked_in(clock, 26, email="late.event@example.com", studio="camden")
        booking = payload["booking"]["id"]
        handlers.on_client_erased(ctx, erased(booking))
        handlers.on_ended(ctx, envelope("booking.cancelled", cancelled(payload)))
        assert api.entry(booking, "cancellation") is None  # nobody to email
        assert "late.event" not in stored(ctx, booking)
        [webhook] = [d for d in ctx.store.for_booking(booking) if d.channel == "webhook"]
        assert webhook.payload["booking"]["customer"]["email"] == "erased"


def test_the_export_rpc_lists_what_was_sent_about_some_bookings(ctx, clock, worker, api):
    payload = booked_in(clock, 26, email="export.me@example.com")
    booking = payload["booking"]["id"]
    publish(ctx, envelope("booking.created", payload))
    api.wait_for_entry(booking, "confirmation", "sent")
    server = RpcServer("notifications", queues.methods(ctx))
    with ctx.infra.connection() as connection, running_worker(connection,
                                                              rpc_servers=[server]):
        client = RpcClient(ctx.infra.connection(), "notifications", timeout_s=5)
        items = client.call("deliveries", {"bookings": [booking, "bk_unknown"]})["items"]
    confirmation = next(i for i in items if i["kind"] == "confirmation")
    assert confirmation["recipient"] == "export.me@example.com"
    assert confirmation["status"] == "sent" and confirmation["booking"] == booking
    assert {i["kind"] for i in items} == {"confirmation", "reminder", "last_meal"}
