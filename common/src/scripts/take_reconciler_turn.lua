-- Lets one worker run the periodic reconciler pass per interval, so passes do not multiply with workers.
-- KEYS[1] reconciled-at (STRING, ms of the last periodic pass)
-- ARGV[1] now ms, ARGV[2] interval ms
-- Returns 1 this worker's turn (recorded) | 0 another worker passed less than an interval ago
local last = tonumber(redis.call('GET', KEYS[1]))
if last and tonumber(ARGV[1]) - last < tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
