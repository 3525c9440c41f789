"""One plain function per event and per API command; queues.py and api.py call them."""

from __future__ import annotations

from marshmallow import ValidationError

from services.common.auth import Principal
from services.common.bus import Envelope
from services.common.errors import Invalid, NotFound
from services.notifications import deliveries, reminders
from services.notifications.bootstrap import Context
from services.notifications.commands import RegisterWebhook
from services.notifications.deliveries import live_endpoints, scope_of
from services.notifications.domain import (
    WAITLIST_EVENTS,
    BookingEvent,
    Delivery,
    Endpoint,
    plan_emails,
    plan_webhooks,
)
from services.notifications.schemas import (
    BookingEventPayloadSchema,
    ClientErasedPayloadSchema,
    WaitlistEventPayloadSchema,
)
from services.notifications.webhooks import new_endpoint_id, new_secret, url_refusal

# events


def on_created(ctx: Context, envelope: Envelope) -> None:
    event = read(ctx, envelope)
    notify(ctx, event)
    reminders.schedule(ctx, event)


def on_rescheduled(ctx: Context, envelope: Envelope) -> None:
    event = read(ctx, envelope)
    notify(ctx, event)
    reminders.move(ctx, event)


def on_ended(ctx: Context, envelope: Envelope) -> None:
    """Cancelled, completed or no-show: the reminders go, the partner hears of it, and
    the customer gets an email only for a cancellation (EMAIL_KINDS)."""
    event = read(ctx, envelope)
    reminders.drop(ctx, event)
    notify(ctx, event)


def on_waitlist(ctx: Context, envelope: Envelope) -> None:
    """A waitlist entry changed: the partner hears of it; an offer also emails the
    client (EMAIL_KINDS)."""
    notify(ctx, read(ctx, envelope))


def on_client_erased(ctx: Context, envelope: Envelope) -> None:
    """The client asked to be forgotten: every delivery about their bookings and
    waitlist entries loses their name, email and phone (emails not yet sent, reminders
    included, never go), and events of those still to come are read as erased."""
    erased = ERASURE.load(envelope.payload)
    for booking_id in [*erased["bookings"], *erased["waitlist"]]:
        ctx.store.mark_erased(booking_id)
        for delivery in ctx.store.for_booking(booking_id):
            ctx.store.save(delivery.erased())


EVENT_HANDLERS = {"booking.created": on_created, "booking.rescheduled": on_rescheduled,
                  "booking.cancelled": on_ended, "booking.completed": on_ended,
                  "booking.no_show": on_ended, "client.erased": on_client_erased,
                  **dict.fromkeys(WAITLIST_EVENTS, on_waitlist)}

PAYLOAD = BookingEventPayloadSchema()  # built once: a schema is costly to build, not to use
WAITLIST_PAYLOAD = WaitlistEventPayloadSchema()
ERASURE = ClientErasedPayloadSchema()


def read_event(envelope: Envelope) -> BookingEvent:
    """The event, once its payload holds what we render (else it is retried, then
    dead-lettered, by the bus). The payload itself is kept as booking sent it."""
    schema = WAITLIST_PAYLOAD if envelope.type in WAITLIST_EVENTS else PAYLOAD
    if errors := schema.validate(envelope.payload):
        raise ValidationError(errors)
    return BookingEvent(envelope.id, envelope.type, envelope.occurred_at, envelope.payload,
                        envelope.correlation_id)


def read(ctx: Context, envelope: Envelope) -> BookingEvent:
    """The event, without its client's personal data if they have been erased since
    it was sent (an event that waited in a queue, or came again)."""
    event = read_event(envelope)
    return event.without_client() if ctx.store.is_erased(event.booking_id) else event


def notify(ctx: Context, event: BookingEvent) -> None:
    """Plan the event's webhooks and email; send the webhooks at once. The email is
    due now and goes out with the worker's periodic sends, which wait while events
    keep arriving: partners' systems wait on webhooks, people read mail later, and in
    a burst every webhook goes before any email. Planning the same event again (a
    redelivery) finds them planned and sends nothing already sent."""
    now = ctx.now()
    webhooks = plan_webhooks(event, live_endpoints(ctx, ctx.store.endpoints()), now)
    ctx.store.create(*webhooks, *plan_emails(event, now))
    deliveries.send_now(ctx, [d.id for d in webhooks])


# webhook endpoints


def register_webhook(ctx: Context, principal: Principal, command: RegisterWebhook) -> Endpoint:
    """A new endpoint owned by `principal`'s partner (rotating its keys loses nothing),
    for the studios the partner sees."""
    if reason := url_refusal(command.url, ctx.settings.webhook_allow_private):
        raise Invalid.field("url", reason, "this URL may not receive webhooks")
    endpoint = Endpoint(
        id=new_endpoint_id(), url=command.url, events=command.events,
        owner=principal.owner, secret=new_secret(), created_at=ctx.now().isoformat(),
        studios=scope_of(principal))
    ctx.store.add_endpoint(endpoint)
    return endpoint


def own_webhooks(ctx: Context, principal: Principal) -> list[Endpoint]:
    mine = [e for e in ctx.store.endpoints() if e.owner == principal.owner]
    return live_endpoints(ctx, mine)


def delete_webhook(ctx: Context, principal: Principal, endpoint_id: str) -> None:
    """An endpoint is its owner's alone, an admin key's too (as `own_webhooks` lists
    them): not `Principal.require_visible`, under which an admin sees the city's."""
    endpoint = ctx.store.endpoint(endpoint_id)
    if endpoint is None or endpoint.owner != principal.owner:
        raise NotFound("no such webhook")
    ctx.store.remove_endpoint(endpoint_id)


# the delivery log


def booking_log(ctx: Context, principal: Principal, booking_id: str) -> list[Delivery]:
    """A booking's deliveries; empty for a booking outside the principal's studios."""
    return [d for d in ctx.store.for_booking(booking_id) if principal.sees(d.studio)]


def one_delivery(ctx: Context, principal: Principal, delivery_id: str) -> Delivery:
    delivery = ctx.store.get(delivery_id)
    if delivery is None:
        raise NotFound("no such notification")
    principal.require_visible(delivery.studio, None, "notification")  # a studio's, nobody's
    return delivery


def redeliver(ctx: Context, principal: Principal, delivery_id: str) -> Delivery:
    """One more attempt now, even if it was sent: the partner asked. The worker sends
    it; a delivery whose retry schedule is spent gets that one attempt only."""
    delivery = one_delivery(ctx, principal, delivery_id).redelivered(ctx.now())
    ctx.store.save(delivery)
    return delivery


def sent_about(ctx: Context, bookings: list[str]) -> list[Delivery]:
    """Every delivery about these bookings (a client's export asks, over RPC)."""
    return [d for booking_id in bookings for d in ctx.store.for_booking(booking_id)]
