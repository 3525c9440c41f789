"""notifications' RPC methods as booking calls them (docs/internal-contracts.md): a
client's export asks what was sent about their bookings. Its refusals are sorted as
availability's are (availability_client.py): partners hear booking's own codes,
never notifications' vocabulary."""

from __future__ import annotations

import logging

from services.common.errors import SpaError, Unavailable
from services.common.service import Infra

log = logging.getLogger(__name__)

# notifications' codes that mean the same to a partner as they do to us. Any other
# (an internal error, an unknown method, params it refused) is our dependency
# failing: partners hear `dependency_unavailable`.
PASSED_ON = frozenset({"dependency_unavailable"})


class NotificationsClient:
    def __init__(self, infra: Infra):
        self.infra = infra

    def call(self, method: str, params: dict, timeout_s: float | None = None) -> dict:
        try:  # this thread's client
            return self.infra.rpc("notifications").call(method, params, timeout_s)
        except SpaError as error:
            if error.code in PASSED_ON:
                raise
            log.error("notifications failed", extra={"error": error.code})
            raise Unavailable("notifications could not answer; try again") from error

    def sent_about(self, bookings: list[str]) -> list[dict]:
        """Every delivery about these bookings, as notifications' export shows it."""
        return self.call("deliveries", {"bookings": bookings})["items"]
