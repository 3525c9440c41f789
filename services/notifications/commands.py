"""What partners ask notifications to do, as data (loaded by schemas.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegisterWebhook:
    url: str
    events: tuple[str, ...]
