-- Free a hold or a confirmed reservation at once. Idempotent: a second call finds
-- nothing and returns false.
-- With ARGV[2] == "expired" (the sweeper), only a hold past expires_at is taken off the
-- ledger, and its record stays until it ages out, so a late confirm still hears
-- "hold_expired" rather than "not_found". Taking the hold off the pending set is the
-- sweeper's claim: of two worker replicas sweeping at once, only the one whose ZREM
-- removed it frees it, so its news is written once.
-- The released reservation is also written to the studio's freed set, in this same
-- script, so the news that time freed is never lost: the worker relays it (slot.released).
-- A reservation already off the ledger (swept, then released by booking) was freed,
-- and its news written, then: it is not written again.
-- KEYS[1] ledger  KEYS[2] hold record  KEYS[3] pending holds  KEYS[4] ledger version
-- KEYS[5] freed
-- ARGV[1] now  ARGV[2] "all" | "expired"
-- Returns the released reservation's JSON, or false.
local raw = redis.call('GET', KEYS[2])
if not raw then
  return false
end
local hold = cjson.decode(raw)
if ARGV[2] == 'expired' then
  if hold.expires_at == 0 or hold.expires_at > tonumber(ARGV[1]) then
    return false
  end
  if redis.call('ZREM', KEYS[3], hold.hold_id) == 0 then
    return false
  end
else
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], hold.hold_id)
end
if redis.call('ZREM', KEYS[1], raw) == 0 then
  return false
end
redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[5], ARGV[1], raw)
return raw
