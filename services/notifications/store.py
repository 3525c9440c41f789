"""The notifications service's Redis keys: `spa:<city>:notifications:...`.

delivery:<id>                  one Delivery as JSON (created once: SET NX)
delivery:<id>:in-flight        set when a send begins, cleared with its outcome
booking:<id>:deliveries        zset of a booking's delivery ids, by creation time (the log)
booking:<id>:state             hash {sequence, closed, erased}: the newest booking change
                               seen; whether its client was erased
due                            zset of pending delivery ids by when to (re)try them: the
                               reminder schedule, the retry schedule and the lease in one
webhook:<id>, webhooks         endpoints as JSON, and the set of their ids
"""

from __future__ import annotations

import json
from dataclasses import replace

import redis

from services.common import jsonio
from services.common.clock import Clock
from services.common.redis import key
from services.notifications.domain import Delivery, Endpoint

# Create a delivery and index it, only if it does not exist yet.
CREATE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""

# Take a due delivery for `lease` seconds and return it: pushing its due time past the
# lease means no other worker takes it meanwhile, and it comes back by itself if we die.
# The in-flight mark says a send began; `save` clears it with the outcome, so a mark
# still there at the next claim means the last attempt may or may not have gone out.
# KEYS[1] due  KEYS[2] the delivery  KEYS[3] its in-flight mark
# ARGV[1] id  ARGV[2] now  ARGV[3] lease end  ARGV[4] how long a mark is kept (s)
# Returns {the delivery, the mark of an interrupted attempt or nil}, or nil.
CLAIM = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not due) or tonumber(due) > tonumber(ARGV[2]) then return false end
local record = redis.call('GET', KEYS[2])
if not record then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local interrupted = redis.call('GET', KEYS[3])
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
return {record, interrupted}
"""
IN_FLIGHT_TTL_S = 7 * 24 * 3600

# Accept a booking change for scheduling unless a newer one (or its end) was seen.
ADVANCE = """
if redis.call('HGET', KEYS[1], 'closed') then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'sequence') or '-1')
if tonumber(ARGV[1]) < seen then return 0 end
redis.call('HSET', KEYS[1], 'sequence', ARGV[1])
return 1
"""


class NotificationStore:
    def __init__(self, client: redis.Redis, city: str, clock: Clock | None = None):
        self.redis = client
        self.city = city
        self.clock = clock or Clock()
        self._create = client.register_script(CREATE)
        self._claim = client.register_script(CLAIM)
        self._advance = client.register_script(ADVANCE)

    def k(self, *parts: str) -> str:
        return key(self.city, "notifications", *parts)

    # deliveries

    def create(self, *deliveries: Delivery) -> None:
        """Store and schedule new deliveries; one that already exists is left as it is."""
        pipe, now = self.redis.pipeline(transaction=False), self.clock.epoch()
        for d in deliveries:
            keys = [self.k("delivery", d.id), self._log(d.booking), self.k("due")]
            self._create(keys=keys, args=[_dump(d), now, d.due_at, d.id], client=pipe)
        pipe.execute()

    def save(self, delivery: Delivery) -> None:
        """Record an attempt's outcome; only pending deliveries stay scheduled."""
        pipe = self.redis.pipeline()
        pipe.set(self.k("delivery", delivery.id), _dump(delivery))
        pipe.delete(self.k("delivery", delivery.id, "in-flight"))
        if delivery.status == "pending":
            pipe.zadd(self.k("due"), {delivery.id: delivery.due_at})
        else:
            pipe.zrem(self.k("due"), delivery.id)
        pipe.execute()

    def delete(self, delivery: Delivery) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(self.k("delivery", delivery.id), self.k("delivery", delivery.id, "in-flight"))
        pipe.zrem(self._log(delivery.booking), delivery.id)
        pipe.zrem(self.k("due"), delivery.id)
        pipe.execute()

    def get(self, delivery_id: str) -> Delivery | None:
        raw = self.redis.get(self.k("delivery", delivery_id))
        return Delivery(**json.loads(raw)) if raw else None

    def for_booking(self, booking_id: str) -> list[Delivery]:
        ids = self.redis.zrange(self._log(booking_id), 0, -1)
        raws = self.redis.mget([self.k("delivery", i) for i in ids]) if ids else []
        return [Delivery(**json.loads(raw)) for raw in raws if raw]

    def due_ids(self, now: float, limit: int = 100) -> list[str]:
        return self.redis.zrangebyscore(self.k("due"), "-inf", now, start=0, num=limit)

    def claim(self, delivery_id: str, now: float,
              lease_s: float) -> tuple[Delivery, bool] | None:
        """The delivery, if it is due and now ours for `lease_s` seconds, and whether
        the attempt before this one stopped mid-send (it may have gone out)."""
        keys = [self.k("due"), self.k("delivery", delivery_id),
                self.k("delivery", delivery_id, "in-flight")]
        found = self._claim(keys=keys, args=[delivery_id, now, now + lease_s,
                                             IN_FLIGHT_TTL_S])
        if not found:
            return None
        raw, interrupted = found
        return Delivery(**json.loads(raw)), bool(interrupted)

    def unschedule(self, delivery_id: str) -> None:
        self.redis.zrem(self.k("due"), delivery_id)

    def _log(self, booking_id: str) -> str:
        return self.k("booking", booking_id, "deliveries")

    # bookings

    def advance_booking(self, booking_id: str, sequence: int) -> bool:
        """True when this change is the booking's newest, so its reminders stand."""
        return bool(self._advance(keys=[self.k("booking", booking_id, "state")],
                                  args=[sequence]))

    def close_booking(self, booking_id: str) -> None:
        self.redis.hset(self.k("booking", booking_id, "state"), "closed", "1")

    def mark_erased(self, booking_id: str) -> None:
        """Its client asked to be forgotten: later events of it are read as erased."""
        self.redis.hset(self.k("booking", booking_id, "state"),
                        mapping={"closed": "1", "erased": "1"})

    def is_erased(self, booking_id: str) -> bool:
        return bool(self.redis.hexists(self.k("booking", booking_id, "state"), "erased"))

    # webhook endpoints

    def add_endpoint(self, endpoint: Endpoint) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self.k("webhook", endpoint.id), _dump(endpoint))
        pipe.sadd(self.k("webhooks"), endpoint.id)
        pipe.execute()

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        raw = self.redis.get(self.k("webhook", endpoint_id))
        return _endpoint(json.loads(raw)) if raw else None

    def endpoints(self) -> list[Endpoint]:
        ids = sorted(self.redis.smembers(self.k("webhooks")))
        raws = self.redis.mget([self.k("webhook", i) for i in ids]) if ids else []
        return [_endpoint(json.loads(raw)) for raw in raws if raw]

    def change_owner(self, endpoint: Endpoint, owner: str) -> None:
        self.redis.set(self.k("webhook", endpoint.id), _dump(replace(endpoint, owner=owner)))

    def remove_endpoint(self, endpoint_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(self.k("webhook", endpoint_id))
        pipe.srem(self.k("webhooks"), endpoint_id)
        pipe.execute()


def _dump(record: Delivery | Endpoint) -> str:
    return jsonio.dumps(record)


def _endpoint(data: dict) -> Endpoint:
    studios = data.pop("studios")
    return Endpoint(**{**data, "events": tuple(data["events"])},
                    studios=None if studios is None else tuple(studios))
