"""One clock for every service: what time it is, as an aware UTC datetime.

Each service's bootstrap wires a `Clock` into its context; code that decides by time
(hold expiry, late cancellation, reminders, saga deadlines) asks it, never the system
directly, so tests move time on instead of racing it. Infrastructure that must agree
with other processes' real clocks (RPC deadlines, webhook signatures, broker retries)
keeps using real time, and says so where it does.
"""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """The system's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def epoch(self) -> float:
        """Seconds since the epoch: what Redis scores and TTLs count in."""
        return self.now().timestamp()
