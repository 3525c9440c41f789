"""What notifications' integration tests share: the worker in a thread, webhook
receivers, publishing booking events, the API as a key sees it, and mail checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.common import bus
from services.notifications import queues
from services.notifications.bootstrap import Context
from tests.helpers import WebhookReceiver, bearer, running_worker, wait_for


@contextmanager
def notifications_worker(ctx: Context) -> Iterator[bus.Worker]:
    """What `python -m services.notifications.worker` runs, in a thread."""
    with ctx.infra.connection() as connection, running_worker(
            connection, queues.consumers(ctx), periodic=queues.periodic(ctx)) as worker:
        yield worker


@contextmanager
def receiving(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def publish(ctx: Context, *envelopes: bus.Envelope) -> None:
    with ctx.infra.connection() as connection:
        publisher = bus.Publisher(connection)
        for envelope in envelopes:
            publisher.publish(envelope)


class Api:
    """The notifications HTTP app, called as a partner or an admin would."""

    def __init__(self, client, api_keys: dict[str, str]):
        self.client = client
        self.keys = api_keys

    def call(self, method: str, path: str, as_: str = "admin", **kwargs):
        return self.client.open(path, method=method, headers=bearer(self.keys[as_]), **kwargs)

    def add_webhook(self, url: str, events=("booking.created",), as_: str = "admin") -> dict:
        response = self.call("POST", "/v1/webhooks", as_,
                             json={"url": url, "events": list(events)})
        assert response.status_code == 201, response.json
        return response.json

    def log(self, booking_id: str, as_: str = "admin") -> list[dict]:
        response = self.call("GET", f"/v1/notifications?booking={booking_id}", as_)
        assert response.status_code == 200, response.json
        return response.json["items"]

    def entry(self, booking_id: str, kind: str) -> dict | None:
        found = [e for e in self.log(booking_id) if e["kind"] == kind]
        assert len(found) <= 1, found
        return found[0] if found else None

    def wait_for_entry(self, booking_id: str, kind: str, status: str) -> dict:
        """The log entry of `kind` once it reached `status`."""
        def reached():
            entry = self.entry(booking_id, kind)
            return entry if entry and entry["status"] == status else None
        return wait_for(reached, what=f"the {kind} notification to be {status}")


def mail_to(smtp_server, address: str) -> list:
    """This test's messages (the SMTP server is shared by the whole session)."""
    return [m for m in smtp_server.messages if m["To"] == address]


def wait_for_mail(smtp_server, address: str, count: int = 1) -> list:
    def arrived():
        messages = mail_to(smtp_server, address)
        return messages if len(messages) >= count else None
    return wait_for(arrived, what=f"{count} email(s)")
