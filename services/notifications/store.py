"""The notifications service's Redis keys: `spa:<city>:notifications:...`."""

from __future__ import annotations

import json

import redis

from services.common.redis import key


class NotificationStore:
    def __init__(self, client: redis.Redis, city: str):
        self.redis = client
        self.city = city

    def k(self, *parts: str) -> str:
        return key(self.city, "notifications", *parts)

    def record_event(self, event_type: str, booking_id: str, event_id: str) -> None:
        entry = {"type": event_type, "event_id": event_id}
        self.redis.rpush(self.k("booking", booking_id, "events"), json.dumps(entry))

    def events_for(self, booking_id: str) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.k("booking", booking_id,
                                                                    "events"), 0, -1)]
