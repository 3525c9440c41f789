-- Turn a live hold into a reservation for a booking. Confirming again for the same
-- booking is a no-op success.
-- KEYS[1] ledger  KEYS[2] hold record  KEYS[3] pending holds  KEYS[4] ledger version
-- ARGV[1] booking id  ARGV[2] now
-- Returns {"confirmed", json} | {"not_found"} | {"expired", json} | {"other_booking", json}
local raw = redis.call('GET', KEYS[2])
if not raw then
  return {'not_found'}
end
local hold = cjson.decode(raw)
if hold.booking_id ~= '' then
  if hold.booking_id == ARGV[1] then
    return {'confirmed', raw}
  end
  return {'other_booking', raw}
end
if hold.expires_at <= tonumber(ARGV[2]) then
  return {'expired', raw}
end
hold.booking_id = ARGV[1]
hold.expires_at = 0
local confirmed = cjson.encode(hold)
redis.call('ZREM', KEYS[1], raw)
redis.call('ZADD', KEYS[1], hold.start, confirmed)
redis.call('SET', KEYS[2], confirmed)  -- a plain SET also drops the record's age-out
redis.call('ZREM', KEYS[3], hold.hold_id)
redis.call('INCR', KEYS[4])
return {'confirmed', confirmed}
