"""Claims, so that N replicas of a worker handle each piece of periodic work once.

Two kinds, chosen per job (docs/architecture.md, Replicas):

- `claim_due`: an ITEM-LEVEL claim, for jobs whose work is items in a sorted set
  scored by when each falls due (retries, releases, sagas, offers). One script takes
  the due items and pushes each one's score past a lease, so no other replica sees it
  due; the holder removes it once done. A holder that dies leaves it to come due
  again when the lease ends: at least once, never lost.
- `claim_first`: the same for a set whose scores only order it (an outbox): the
  claims are kept beside it, each with its lease's end.
- `Lease`: a short lease per JOB (SET NX PX), for jobs that are a scan (a walk
  over every studio, a purge): one replica runs it, the others skip that turn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import redis

# KEYS[1] a sorted set of items scored by when each is due
# ARGV[1] now  ARGV[2] the lease's end  ARGV[3] how many at most
# Returns {item, its due time, ...}, earliest due first.
CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
                       'LIMIT', 0, ARGV[3])
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], ARGV[2], due[i])
end
return due
"""

# KEYS[1] a sorted set of items in the order they are to be handled (an outbox)
# KEYS[2] the claims on them: item -> when the claim ends
# ARGV[1] now  ARGV[2] the lease's end  ARGV[3] how many of the first items to look at
# Returns the items claimed now, in order: those not claimed, or whose claim ended.
CLAIM_FIRST = """
local first = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local claimed = {}
for _, item in ipairs(first) do
  local ends = redis.call('ZSCORE', KEYS[2], item)
  if (not ends) or tonumber(ends) <= tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[2], ARGV[2], item)
    claimed[#claimed + 1] = item
  end
end
return claimed
"""

# KEYS[1] the lease  ARGV[1] our token  ARGV[2] ms to extend it by (0: release it)
# Returns 1 while the lease is still ours.
RENEW_OR_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


def claim_due(client: redis.Redis, name: str, now: float, lease_s: float,
              limit: int = 100) -> dict[str, float]:
    """The items of the sorted set `name` due at `now` (each with the time it was due),
    earliest first, now ours for `lease_s`: no other caller gets them until the lease
    ends, when they come due again unless the holder removed or rescheduled them."""
    script = client.register_script(CLAIM_DUE)
    flat = script(keys=[name], args=[now, now + lease_s, limit])
    return {item: float(due) for item, due in zip(flat[::2], flat[1::2], strict=True)}


def claim_first(client: redis.Redis, name: str, claims: str, now: float, lease_s: float,
                limit: int = 100) -> list[str]:
    """Of the first `limit` items of the sorted set `name` (whose scores order them but
    say nothing of when they are due: an outbox), those nobody holds, in order, now
    ours for `lease_s`; each claim is kept in the sorted set `claims`, which the
    holder cleans up with the item (or `release_first` when it gives them back)."""
    script = client.register_script(CLAIM_FIRST)
    return script(keys=[name, claims], args=[now, now + lease_s, limit])


def release_first(client: redis.Redis, claims: str, items: list[str]) -> None:
    """Give back items claimed by `claim_first`, for any caller to claim at once."""
    if items:
        client.zrem(claims, *items)


@dataclass
class Lease:
    """A job's lease: `acquire` takes it for `ttl_s` or says another replica holds it.
    A lease that is `kept` is not released after the run, so the job runs once per
    `ttl_s` across replicas (jobs that run every minute); others are released, so the
    next turn goes to whichever replica comes first."""

    client: redis.Redis
    name: str
    ttl_s: float
    keep: bool = False
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def acquire(self) -> bool:
        return bool(self.client.set(self.name, self.token, nx=True,
                                    px=int(self.ttl_s * 1000)))

    def renew(self) -> bool:
        """Extend the lease by `ttl_s`; False when it lapsed and another replica took it."""
        return self._renew_or_release(int(self.ttl_s * 1000))

    def release(self) -> None:
        self._renew_or_release(0)

    def _renew_or_release(self, ms: int) -> bool:
        script = self.client.register_script(RENEW_OR_RELEASE)
        return bool(script(keys=[self.name], args=[self.token, ms]))


def unclaim(client: redis.Redis, name: str, claimed: dict[str, float]) -> None:
    """Give claimed items back as they were due (their work failed for now: a lost
    broker), rather than leaving them until the lease ends. XX: one removed meanwhile
    (done by whoever held it) stays gone."""
    if claimed:
        client.zadd(name, claimed, xx=True)
