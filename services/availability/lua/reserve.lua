-- Reserve therapist and room time for a booking in one step: the first of the given
-- (therapist, room) pairs that is free is written as a confirmed reservation, or
-- nothing is. The booking's saga chose the hold id, so a retried call (a lost reply)
-- finds what the first call reserved.
-- KEYS[1] the studio's ledger  KEYS[2] the reservation's record (by hold id)
-- KEYS[3] the studio's ledger version  KEYS[4] the catalog version copied to the studio
-- ARGV[1] the reservation, therapist and room left empty (JSON)  ARGV[2] now
-- ARGV[3] lookback (s): the longest a reservation can last
-- ARGV[4] the catalog version the caller chose the pairs by
-- ARGV[5] the pairs, best first (JSON: [[therapist, room], ...])  ARGV[6] the booking id
-- Returns {"reserved", json} (also for a retry) | {"other_booking", json} |
--         {"taken", ""} (every pair is busy) | {"stale", ""} (the catalog changed)
local existing = redis.call('GET', KEYS[2])
if existing then
  if cjson.decode(existing).booking_id == ARGV[6] then
    return {'reserved', existing}
  end
  return {'other_booking', existing}
end
local catalog = redis.call('GET', KEYS[4])
if catalog and tonumber(catalog) > tonumber(ARGV[4]) then
  return {'stale', ''}
end
local new = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local busy = {}
for _, raw in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], new.start - tonumber(ARGV[3]),
                                '(' .. new.busy_until)) do
  local old = cjson.decode(raw)
  if (old.expires_at == 0 or old.expires_at > now) and old.busy_until > new.start then
    busy[#busy + 1] = old
  end
end
for _, pair in ipairs(cjson.decode(ARGV[5])) do
  local free = true
  for _, old in ipairs(busy) do
    if old.therapist == pair[1] or old.room == pair[2] then
      free = false
      break
    end
  end
  if free then
    new.therapist, new.room, new.booking_id, new.expires_at = pair[1], pair[2], ARGV[6], 0
    local reserved = cjson.encode(new)
    redis.call('ZADD', KEYS[1], new.start, reserved)
    redis.call('SET', KEYS[2], reserved)
    redis.call('INCR', KEYS[3])
    return {'reserved', reserved}
  end
end
return {'taken', ''}
