-- Hold a therapist and a room for [start, busy_until) at one studio: write both, or
-- nothing. Expiry is data: a hold whose expires_at has passed takes no time here,
-- whether or not anything has cleaned it up yet.
-- KEYS[1] the studio's ledger: reservation JSON scored by start
-- KEYS[2] the hold's record (the same JSON)
-- KEYS[3] the studio's pending holds: hold id scored by expires_at
-- KEYS[4] the studio's ledger version: bumped by every write (search caches key on it)
-- KEYS[5] the catalog version last copied to this studio (absent: never changed)
-- ARGV[1] the new reservation (JSON)  ARGV[2] now  ARGV[3] lookback (s): the longest
-- a reservation can last  ARGV[4] when the record may age out (epoch s)
-- ARGV[5] the catalog version the caller chose therapist and room by
-- Returns {"held", json} | {"exists", json} (same hold id: a retried call) |
--         {"taken", id} | {"stale", ""} (the catalog changed since: decide again)
local existing = redis.call('GET', KEYS[2])
if existing then
  return {'exists', existing}
end
local catalog = redis.call('GET', KEYS[5])
if catalog and tonumber(catalog) > tonumber(ARGV[5]) then
  return {'stale', ''}
end
local new = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local nearby = redis.call('ZRANGEBYSCORE', KEYS[1], new.start - tonumber(ARGV[3]),
                          '(' .. new.busy_until)
for _, raw in ipairs(nearby) do
  local old = cjson.decode(raw)
  local live = old.expires_at == 0 or old.expires_at > now
  local shared = old.therapist == new.therapist or old.room == new.room
  if live and shared and old.busy_until > new.start then
    return {'taken', old.hold_id}
  end
end
redis.call('ZADD', KEYS[1], new.start, ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], new.expires_at, new.hold_id)
redis.call('INCR', KEYS[4])
return {'held', ARGV[1]}
