-- Extends the lease of a job this worker runs, and of the workflow slot it holds, if any, and tells the
-- worker when the user asked to cancel the run.
-- KEYS[1] running (HASH), KEYS[2] leases (ZSET), KEYS[3] the workflow's slots (ZSET), KEYS[4] job (HASH)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] new lease expiry ms, ARGV[4] '1' if the job holds a slot
-- Returns 1 renewed | 2 renewed, cancel requested | 3 renewed, cancel requested counting as a failure |
-- 0 the job is no longer this worker's
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[3], 'XX', ARGV[3], ARGV[1])
end
local cancel = redis.call('HGET', KEYS[4], 'cancel')
if cancel == 'cancel' then
  return 2
elseif cancel == 'fail' then
  return 3
end
return 1
