"""availability's RPC methods as booking calls them (docs/internal-contracts.md):
replies loaded into booking's own dataclasses, refusals sorted into those partners
may see and those they may not."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from services.booking.commands import FirstFree, SlotRequest
from services.booking.domain import (
    CancellationTerms,
    Description,
    Hold,
    Named,
    StudioFacts,
    TreatmentFacts,
)
from services.common.errors import SpaError, Unavailable
from services.common.service import Infra

log = logging.getLogger(__name__)

# describe is asked by every booking, and catalogs change rarely: an admin's change
# reaches screening within this delay, and each booking saves one bus round trip.
DESCRIBE_TTL_S = 10.0
# availability's codes that mean the same to a partner as they do to us. Any other
# (an internal error, an unknown method) is our dependency failing: partners hear
# `dependency_unavailable`, never availability's own vocabulary.
PASSED_ON = frozenset({"not_found", "validation_error", "outside_booking_window",
                       "slot_unavailable", "hold_expired",
                       "conflict", "dependency_unavailable"})


class AvailabilityClient:
    def __init__(self, infra: Infra):
        self.infra = infra
        self._described: dict[tuple[str, str], tuple[float, Description]] = {}
        self._catalog_version = 0  # the newest a reply has named

    def call(self, method: str, params: dict, timeout_s: float | None = None) -> dict:
        try:  # this thread's client
            return self.infra.rpc("availability").call(method, params, timeout_s)
        except SpaError as error:
            if error.code in PASSED_ON:
                raise
            log.error("availability failed", extra={"error": error.code})
            raise Unavailable("availability could not answer; try again") from error

    def describe(self, studio: str, treatment: str) -> Description:
        expires, described = self._described.get((studio, treatment), (0.0, None))
        if described and time.monotonic() < expires:
            return described
        described = description_from_reply(
            self.call("describe", {"studio": studio, "treatment": treatment}))
        self._described[(studio, treatment)] = (time.monotonic() + DESCRIBE_TTL_S, described)
        return described

    def hold(self, wanted: SlotRequest, hold_id: str) -> Hold:
        params = {**order_params(wanted), "start": wanted.start.isoformat(),
                  "hold_id": hold_id, "ttl_s": self.infra.settings.hold_ttl_s}
        return asked(hold_from_reply(self.call("hold", params)), wanted)

    def hold_first(self, request: FirstFree, hold_id: str, ttl_s: int) -> Hold:
        """The earliest free time inside the windows, held (a waitlist offer)."""
        params = {**order_params(request), "hold_id": hold_id, "ttl_s": ttl_s,
                  "windows": [{"from": w.start.isoformat(), "to": w.end.isoformat()}
                              for w in request.windows],
                  "skip": [moment.isoformat() for moment in request.skip]}
        return asked(hold_from_reply(self.call("hold_first", params)), request)

    def reserve(self, wanted: SlotRequest, hold_id: str, booking_id: str,
                prefer: str | None = None) -> Hold:
        """Therapist and room held and confirmed for the booking in one call. A reply
        naming a newer catalog drops what `describe` cached."""
        params = {**order_params(wanted), "start": wanted.start.isoformat(),
                  "hold_id": hold_id, "booking_id": booking_id}
        if prefer:
            params["prefer"] = prefer
        reply = self.call("reserve", params)
        self.saw_catalog(reply.get("catalog_version") or 0)
        return asked(hold_from_reply(reply), wanted)

    def saw_catalog(self, version: int) -> None:
        if version > self._catalog_version:
            self._catalog_version = version
            self._described.clear()

    def confirm(self, hold_id: str, booking_id: str) -> None:
        self.call("confirm", {"hold_id": hold_id, "booking_id": booking_id})

    def release(self, hold_id: str, timeout_s: float | None = None) -> None:
        self.call("release", {"hold_id": hold_id}, timeout_s)


def description_from_reply(reply: dict) -> Description:
    studio, treatment = reply["studio"], reply["treatment"]
    return Description(
        StudioFacts(studio["id"], studio["name"], studio.get("address") or "", studio["timezone"]),
        TreatmentFacts(
            treatment["id"], treatment["name"], tuple(treatment["contraindications"]),
            bool(treatment["intake_required"]), tuple(treatment["preparation"]),
            tuple(treatment["aftercare"]), treatment.get("no_food_before_min"),
            tuple(treatment.get("durations_min") or ())),
        tuple(Named(a["id"], a["name"]) for a in reply["alternatives"]),
        (reply.get("booking_window") or {}).get("max_advance_days", 365))


def hold_from_reply(reply: dict) -> Hold:
    return Hold(
        id=reply["hold_id"], studio=reply["studio"], treatment=reply["treatment"],
        duration=reply["duration"], start=datetime.fromisoformat(reply["start"]),
        end=datetime.fromisoformat(reply["end"]), therapist=Named(**reply["therapist"]),
        room=Named(**reply["room"]), price=reply["price"],
        expires_at=_instant(reply["expires_at"]), addons=tuple(reply["addons"]),
        price_breakdown=reply["price_breakdown"], terms=terms_from(reply["cancellation"]))


def asked(hold: Hold, request: SlotRequest | FirstFree) -> Hold:
    """The hold with the therapist gender it asked for, which a booking made from it
    keeps (availability does not say it back)."""
    return replace(hold, therapist_gender=request.therapist_gender)


def terms_from(policy: dict) -> CancellationTerms:
    return CancellationTerms(int(policy["free_until_h"]),
                             Decimal(str(policy["late_fee_percent"])),
                             Decimal(str(policy["no_show_fee_percent"])))


def _instant(text: str | None) -> datetime | None:
    """None for a hold already confirmed (a retried call): it no longer expires."""
    return datetime.fromisoformat(text) if text else None


def order_params(request: SlotRequest | FirstFree) -> dict:
    """What every hold asks for (availability's OrderParams); the optional parts only
    when given."""
    params = {"studio": request.studio, "treatment": request.treatment,
              "duration": request.duration, "addons": list(request.addons)}
    for name in ("therapist", "therapist_gender"):
        if value := getattr(request, name):
            params[name] = value
    return params
