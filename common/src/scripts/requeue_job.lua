-- Hands a claimed job back to the front of its ready list, after its lease expired (the reconciler) or
-- when its worker shuts down before finishing it. The abandoned attempt's execution is closed as failed;
-- the schedule's counters do not move.
-- KEYS[1] job (HASH), KEYS[2] running (HASH), KEYS[3] leases (ZSET), KEYS[4] ready (LIST),
-- KEYS[5] executions (HASH), KEYS[6] schedule (HASH), KEYS[7] the schedule queue's delayed (ZSET)
-- ARGV[1] job id, ARGV[2] owner worker id, ARGV[3] lease must have expired before this ms, or 0,
-- ARGV[4] abandoned execution id or '' if it never started, ARGV[5] closed execution JSON, ARGV[6] now ms,
-- ARGV[7] wakeup channel
-- Returns 1 requeued | 2 dropped, the job record is gone | 0 not this owner's job or lease renewed
local job_id = ARGV[1]
if redis.call('HGET', KEYS[2], job_id) ~= ARGV[2] then
  return 0
end
if ARGV[3] ~= '0' then
  local lease = redis.call('ZSCORE', KEYS[3], job_id)
  if lease and tonumber(lease) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HDEL', KEYS[2], job_id)
redis.call('ZREM', KEYS[3], job_id)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 2
end
local started = redis.call('HGET', KEYS[1], 'execution_id')
if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[5], ARGV[4]) == 1 then
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[5])
end
-- A started regular or manual run counted as under way; it is not any more until it starts again.
if started and not string.find(job_id, '-bf-', 1, true) and redis.call('EXISTS', KEYS[6]) == 1 then
  end_run(KEYS[6], KEYS[7], ARGV[6], ARGV[7])
end
redis.call('HDEL', KEYS[1], 'worker')
redis.call('LPUSH', KEYS[4], job_id)
return 1
