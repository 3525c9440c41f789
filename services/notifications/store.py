"""The notifications service's Redis keys: `spa:{<city>:notifications}:...`.

delivery:<id>                  one Delivery as JSON (created once: SET NX)
delivery:<id>:in-flight        set when a send begins, cleared with its outcome
booking:<id>:deliveries        zset of a booking's delivery ids, by creation time (the log)
booking:<id>:state             hash {sequence, closed, erased}: the newest booking change
                               seen; whether its client was erased
booking:<id>:reminders         set: the ids of the booking's scheduled reminders, which
                               the schedule and close scripts replace or drop
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
from services.notifications.domain import REMINDER_KINDS, Delivery, Endpoint

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
# A reminder of a booking closed (cancelled, completed, erased) before this claim is
# never sent: it leaves the schedule here, whichever replica closed the booking.
# KEYS[1] due  KEYS[2] the delivery  KEYS[3] its in-flight mark  KEYS[4] its booking's state
# ARGV[1] id  ARGV[2] now  ARGV[3] lease end  ARGV[4] how long a mark is kept (s)
# ARGV[5] "1" when the delivery is a reminder
# Returns {the delivery, the mark of an interrupted attempt or nil}, or nil.
CLAIM = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not due) or tonumber(due) > tonumber(ARGV[2]) then return false end
local record = redis.call('GET', KEYS[2])
if (not record) or (ARGV[5] == '1' and redis.call('HGET', KEYS[4], 'closed')) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local interrupted = redis.call('GET', KEYS[3])
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
return {record, interrupted}
"""
IN_FLIGHT_TTL_S = 7 * 24 * 3600

# A booking's reminders, replaced (SCHEDULE: created, rescheduled) or dropped (CLOSE:
# cancelled, completed, no-show) in one step with the booking's state, so that two
# replicas handling its events at once cannot leave a reminder for a closed booking:
# SCHEDULE refuses a change older than one seen (sequence) and any change once the
# booking is closed; CLOSE marks it closed as it drops what is scheduled. The old
# reminders' records are named in KEYS, as the caller read them: if the set of them or
# any record changed since (another replica scheduled or sent meanwhile), nothing is
# written and the caller reads again (-1).
# KEYS[1] state  KEYS[2] the booking's log  KEYS[3] due  KEYS[4] its reminders (a set)
# KEYS[4+1..4+n] the old reminders' records  KEYS[4+n+1..4+n+m] the new ones'
# ARGV[1] "schedule" | "close"  ARGV[2] the event's sequence  ARGV[3] now
# ARGV[4] n  ARGV[5] m  then n old ids, n records as read ("": none), n actions ("-":
# keep the record, "": delete it, else the record to write), then m new ids, m new
# records, m due times.
# Returns 1 when written, 0 when refused, -1 when the reminders changed meanwhile.
REWRITE_REMINDERS = """
local mode, sequence, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local n, m = tonumber(ARGV[4]), tonumber(ARGV[5])
if mode == 'schedule' then
  if redis.call('HGET', KEYS[1], 'closed') then return 0 end
  if sequence < tonumber(redis.call('HGET', KEYS[1], 'sequence') or '-1') then return 0 end
end
local new = 5 + 3 * n
local known = {}  -- the old ones as read, and the new ones: an event handled again
for i = 1, n do known[ARGV[5 + i]] = true end  -- finds its own reminders in the set
for j = 1, m do known[ARGV[new + j]] = true end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if not known[id] then return -1 end
end
for i = 1, n do
  if (redis.call('GET', KEYS[4 + i]) or '') ~= ARGV[5 + n + i] then return -1 end
end
if mode == 'close' then
  redis.call('HSET', KEYS[1], 'closed', '1')
else
  redis.call('HSET', KEYS[1], 'sequence', sequence)
end
for i = 1, n do
  local id, action = ARGV[5 + i], ARGV[5 + 2 * n + i]
  redis.call('SREM', KEYS[4], id)
  if action == '' then
    redis.call('DEL', KEYS[4 + i])
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  elseif action ~= '-' then
    redis.call('SET', KEYS[4 + i], action)
    redis.call('ZREM', KEYS[3], id)
  end
end
for j = 1, m do
  local id = ARGV[new + j]
  if redis.call('SET', KEYS[4 + n + j], ARGV[new + m + j], 'NX') then
    redis.call('ZADD', KEYS[2], now, id)
    redis.call('ZADD', KEYS[3], ARGV[new + 2 * m + j], id)
    redis.call('SADD', KEYS[4], id)
  end
end
return 1
"""
REWRITE_TRIES = 20  # each retry means another replica changed the reminders meanwhile


class NotificationStore:
    def __init__(self, client: redis.Redis, city: str, clock: Clock | None = None):
        self.redis = client
        self.city = city
        self.clock = clock or Clock()
        self._create = client.register_script(CREATE)
        self._claim = client.register_script(CLAIM)
        self._rewrite = client.register_script(REWRITE_REMINDERS)

    def k(self, *parts: str) -> str:
        return key(self.city, "notifications", *parts)

    # deliveries

    def create(self, *deliveries: Delivery) -> None:
        """Store and schedule new deliveries; one that already exists is left as it is.
        One script call each: Redis Cluster clients run no script inside a pipeline."""
        now = self.clock.epoch()
        for d in deliveries:
            keys = [self.k("delivery", d.id), self._log(d.booking), self.k("due")]
            self._create(keys=keys, args=[_dump(d), now, d.due_at, d.id])

    def save(self, delivery: Delivery) -> None:
        """Record an attempt's outcome; only pending deliveries stay scheduled."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.k("delivery", delivery.id), _dump(delivery))
        pipe.delete(self.k("delivery", delivery.id, "in-flight"))
        if delivery.status == "pending":
            pipe.zadd(self.k("due"), {delivery.id: delivery.due_at})
        else:
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
        # Its booking and kind never change: read first, so the script names its keys.
        current = self.get(delivery_id)
        if current is None:
            self.unschedule(delivery_id)
            return None
        keys = [self.k("due"), self.k("delivery", delivery_id),
                self.k("delivery", delivery_id, "in-flight"), self._state(current.booking)]
        found = self._claim(keys=keys, args=[delivery_id, now, now + lease_s,
                                             IN_FLIGHT_TTL_S,
                                             "1" if current.is_reminder else "0"])
        if not found:
            return None
        raw, interrupted = found
        return Delivery(**json.loads(raw)), bool(interrupted)

    def unschedule(self, delivery_id: str) -> None:
        self.redis.zrem(self.k("due"), delivery_id)

    def _log(self, booking_id: str) -> str:
        return self.k("booking", booking_id, "deliveries")

    # bookings

    def schedule_reminders(self, booking_id: str, sequence: int,
                           reminders: list[Delivery]) -> bool:
        """The booking's scheduled reminders make way for `reminders`, unless the
        booking was closed or a change newer than `sequence` was seen (False): one
        script, so a cancel on another replica cannot slip in between."""
        return self._rewrite_reminders("schedule", booking_id, sequence, reminders)

    def close_booking(self, booking_id: str, sequence: int = 0) -> None:
        """Cancelled, completed or no-show: closed, and its scheduled reminders dropped
        (kept in the log as dropped if tried already), in one script."""
        self._rewrite_reminders("close", booking_id, sequence, [])

    def _rewrite_reminders(self, mode: str, booking_id: str, sequence: int,
                           new: list[Delivery]) -> bool:
        new_ids = {d.id for d in new}
        for _ in range(REWRITE_TRIES):
            old = {i: raw for i, raw in self._scheduled_reminders(booking_id).items()
                   if i not in new_ids}
            keys = [self._state(booking_id), self._log(booking_id), self.k("due"),
                    self._reminders(booking_id),
                    *(self.k("delivery", i) for i in old),
                    *(self.k("delivery", d.id) for d in new)]
            args = [mode, sequence, self.clock.epoch(), len(old), len(new), *old,
                    *old.values(), *(_dropping(raw) for raw in old.values()),
                    *(d.id for d in new), *(_dump(d) for d in new), *(d.due_at for d in new)]
            done = self._rewrite(keys=keys, args=args)
            if done != -1:
                return done == 1
        raise RuntimeError(f"the reminders of {booking_id} kept changing; try again")

    def _scheduled_reminders(self, booking_id: str) -> dict[str, str]:
        """Id -> record ("" when gone) of each reminder the set names, and of each
        pending one in the log (reminders scheduled before the set was kept)."""
        logged = self.redis.zrange(self._log(booking_id), 0, -1)
        members = self.redis.smembers(self._reminders(booking_id))
        ids = logged + sorted(members - set(logged))
        raws = self.redis.mget([self.k("delivery", i) for i in ids]) if ids else []
        found = {}
        for delivery_id, raw in zip(ids, raws, strict=True):
            if delivery_id in members or (raw and _is_pending_reminder(raw)):
                found[delivery_id] = raw or ""
        return found

    def _state(self, booking_id: str) -> str:
        return self.k("booking", booking_id, "state")

    def _reminders(self, booking_id: str) -> str:
        return self.k("booking", booking_id, "reminders")

    def mark_erased(self, booking_id: str) -> None:
        """Its client asked to be forgotten: later events of it are read as erased."""
        self.redis.hset(self.k("booking", booking_id, "state"),
                        mapping={"closed": "1", "erased": "1"})

    def is_erased(self, booking_id: str) -> bool:
        return bool(self.redis.hexists(self.k("booking", booking_id, "state"), "erased"))

    # webhook endpoints

    def add_endpoint(self, endpoint: Endpoint) -> None:
        pipe = self.redis.pipeline(transaction=True)
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
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.k("webhook", endpoint_id))
        pipe.srem(self.k("webhooks"), endpoint_id)
        pipe.execute()


def _dump(record: Delivery | Endpoint) -> str:
    return jsonio.dumps(record)


def _is_pending_reminder(raw: str) -> bool:
    data = json.loads(raw)
    return data["kind"] in REMINDER_KINDS and data["status"] == "pending"


def _dropping(raw: str) -> str:
    """What a reminder that makes way becomes: deleted ("") if never tried, dropped
    if tried (its attempts stay in the log), as it is ("-") if sent or failed."""
    if not raw or not _is_pending_reminder(raw):
        return "-" if raw else ""
    delivery = Delivery(**json.loads(raw))
    return _dump(delivery.dropped()) if delivery.attempts else ""


def _endpoint(data: dict) -> Endpoint:
    studios = data.pop("studios")
    return Endpoint(**{**data, "events": tuple(data["events"])},
                    studios=None if studios is None else tuple(studios))
