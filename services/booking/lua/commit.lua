-- Commit one change of a booking in one step: a compare-and-set on the booking's
-- version, then every write the change makes (indexes, its event in the outbox, a
-- release to retry, an idempotency receipt...), or nothing.
-- KEYS[1] the booking  KEYS[2] the hold it takes (KEYS[1] again when none)
-- KEYS[3..] the keys the writes touch
-- ARGV[1] the version the caller read  ARGV[2] the booking as it is now (JSON)
-- ARGV[3] "1" when the change takes the hold in KEYS[2] (gone: refused)
-- ARGV[4] the writes (JSON): [[command, index of its key in KEYS, args...], ...]
-- Returns 1 when written, 0 when refused.
local stored = redis.call('GET', KEYS[1])
local version = 0
if stored then
  version = cjson.decode(stored).version
end
if version ~= tonumber(ARGV[1]) then
  return 0
end
if ARGV[3] == '1' then
  if redis.call('DEL', KEYS[2]) == 0 then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2])
for _, write in ipairs(cjson.decode(ARGV[4])) do
  local args = {write[1], KEYS[write[2]]}
  for i = 3, #write do
    args[#args + 1] = write[i]
  end
  redis.call(unpack(args))
end
return 1
