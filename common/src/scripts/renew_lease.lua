-- Extends the lease of a job this worker runs.
-- KEYS[1] running (HASH), KEYS[2] leases (ZSET)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] new lease expiry ms
-- Returns 1 renewed | 0 the job is no longer this worker's
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
return 1
