"""availability's RPC methods as booking calls them (docs/internal-contracts.md)."""

from __future__ import annotations

import time
from datetime import datetime

from services.booking.domain import Hold, Named, SlotRequest
from services.common.rpc import RpcClient
from services.common.service import Infra

# describe is asked by every booking, and catalogs change rarely: an admin's change
# reaches screening within this delay, and each booking saves one bus round trip.
DESCRIBE_TTL_S = 10.0


class AvailabilityClient:
    def __init__(self, infra: Infra):
        self.infra = infra
        self._described: dict[tuple[str, str], tuple[float, dict]] = {}

    @property
    def rpc(self) -> RpcClient:
        return self.infra.rpc("availability")  # this thread's own client

    def describe(self, studio: str, treatment: str) -> dict:
        expires, described = self._described.get((studio, treatment), (0.0, {}))
        if time.monotonic() < expires:
            return described
        described = self.rpc.call("describe", {"studio": studio, "treatment": treatment})
        self._described[(studio, treatment)] = (time.monotonic() + DESCRIBE_TTL_S, described)
        return described

    def hold(self, wanted: SlotRequest, hold_id: str) -> Hold:
        params = {"studio": wanted.studio, "treatment": wanted.treatment,
                  "duration": wanted.duration, "start": wanted.start.isoformat(),
                  "hold_id": hold_id, "ttl_s": self.infra.settings.hold_ttl_s}
        if wanted.therapist:
            params["therapist"] = wanted.therapist
        return hold_from_reply(self.rpc.call("hold", params))

    def confirm(self, hold_id: str, booking_id: str) -> None:
        self.rpc.call("confirm", {"hold_id": hold_id, "booking_id": booking_id})

    def release(self, hold_id: str) -> None:
        self.rpc.call("release", {"hold_id": hold_id})


def hold_from_reply(reply: dict) -> Hold:
    return Hold(
        id=reply["hold_id"], studio=reply["studio"], treatment=reply["treatment"],
        duration=reply["duration"], start=datetime.fromisoformat(reply["start"]),
        end=datetime.fromisoformat(reply["end"]), therapist=Named(**reply["therapist"]),
        room=Named(**reply["room"]), price=reply["price"],
        expires_at=_instant(reply["expires_at"]))


def _instant(text: str | None) -> datetime | None:
    """None for a hold already confirmed (a retried call): it no longer expires."""
    return datetime.fromisoformat(text) if text else None
