-- Lets one worker run the periodic reconciler pass per interval, so passes do not multiply with workers.
-- KEYS[1] reconciled_at: ms of the last periodic pass (STRING)
-- ARGV[1] now_ms
-- ARGV[2] min_gap_ms: the shortest time between two passes, a little under the interval
-- Returns 'taken' this worker's turn (recorded) | 'not_yet' another worker passed less than that ago
local last = tonumber(redis.call('GET', reconciled_at))
if last and tonumber(now_ms) - last < tonumber(min_gap_ms) then
  return 'not_yet'
end
redis.call('SET', reconciled_at, now_ms)
return 'taken'
