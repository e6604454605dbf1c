-- Ends a job in one step: checks the job is still held by the owner (or, for a pending job the reconciler
-- skips, takes it out of its queue), records the execution (trimming the history to the retention bounds),
-- writes the schedule's next state planned in Rust from revision ARGV[7], and enqueues the next job. The
-- reconciler also ends abandoned jobs here, with ARGV[6] set so that a lease renewed meanwhile wins.
-- KEYS[1] job (HASH), KEYS[2] running (HASH), KEYS[3] leases (ZSET), KEYS[4] schedule (HASH),
-- KEYS[5] executions (HASH), KEYS[6] execution-times (ZSET), KEYS[7] schedules by old status (ZSET),
-- KEYS[8] schedules by new status (ZSET), KEYS[9] next job (HASH), KEYS[10] the schedule queue's delayed
-- (ZSET), KEYS[11] its ready (LIST), KEYS[12] dropped job (HASH), KEYS[13] the schedule's backfill (LIST),
-- KEYS[14] the workflow's slots (ZSET), KEYS[15] the workflow's waiting jobs (ZSET), KEYS[16] execution
-- index (ZSET), KEYS[17] the workflow's execution index (ZSET)
-- ARGV[1] job id, ARGV[2] owner worker id or '' for a pending job, ARGV[3] execution id, ARGV[4] execution
-- JSON, ARGV[5] now ms, ARGV[6] lease must have expired before this ms, or 0, ARGV[7] expected rev,
-- ARGV[8] executions to keep, ARGV[9] drop executions started before this ms, ARGV[10] retention ms,
-- ARGV[11] schedule id, ARGV[12] creation ms, ARGV[13] next job id or '', ARGV[14] next queue,
-- ARGV[15] next due ms, ARGV[16] next due RFC 3339, ARGV[17] wakeup channel, ARGV[18] '1' if the job
-- counted as a run under way, ARGV[19] pending job to drop or '', ARGV[20] '1' for a backfill job (the next
-- job is then the head of the backfill list), ARGV[21] delayed key pattern, ARGV[22] '1' to let the
-- schedule's records expire after the retention period (an ad-hoc run that ended), ARGV[23] '1' if the job
-- holds a workflow slot, ARGV[24..] schedule record
-- Returns 1 recorded | 2 recorded, the schedule was deleted | 0 not this owner's job (or no longer pending)
-- | -2 stale revision or backfill list
local job_id, execution_id, pending = ARGV[1], ARGV[3], ARGV[2] == ''
if not pending and (redis.call('HGET', KEYS[2], job_id) ~= ARGV[2]
    or redis.call('HGET', KEYS[1], 'execution_id') ~= execution_id) then
  return 0
end
if ARGV[6] ~= '0' then
  local lease = redis.call('ZSCORE', KEYS[3], job_id)
  if lease and tonumber(lease) >= tonumber(ARGV[6]) then
    return 0
  end
end
local rev = redis.call('HGET', KEYS[4], 'rev')
local schedule_exists = rev ~= false
if schedule_exists and rev ~= ARGV[7] then
  return -2
end
local backfill = ARGV[20] == '1' and schedule_exists and redis.call('HGET', KEYS[4], 'backfill_job') == job_id
if backfill and (redis.call('LINDEX', KEYS[13], 0) or '') ~= ARGV[13] then
  return -2
end
if pending then
  if redis.call('ZREM', KEYS[10], job_id) + redis.call('LREM', KEYS[11], 0, job_id) == 0 then
    return 0
  end
else
  redis.call('HDEL', KEYS[2], job_id)
  redis.call('ZREM', KEYS[3], job_id)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[5], execution_id, ARGV[4])
if ARGV[23] == '1' then
  free_slot(KEYS[14], KEYS[15], job_id, ARGV[5], ARGV[21], ARGV[17])
end
if pending then
  -- Never started: index the skipped record at the time it was skipped.
  redis.call('ZADD', KEYS[6], ARGV[5], execution_id)
  redis.call('ZADD', KEYS[16], ARGV[5], execution_id)
  redis.call('ZADD', KEYS[17], ARGV[5], execution_id)
end

-- Retention: oldest first, at most 100 records a call, so one call never does unbounded work.
local expired = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[9], 'LIMIT', 0, 100)
local excess = redis.call('ZCARD', KEYS[6]) - #expired - tonumber(ARGV[8])
if excess > 0 then
  expired = redis.call('ZRANGE', KEYS[6], 0, #expired + math.min(excess, 100) - 1)
end
if #expired > 0 then
  redis.call('HDEL', KEYS[5], unpack(expired))
  redis.call('ZREM', KEYS[6], unpack(expired))
  -- The cross-schedule indexes are trimmed by age in the reconciler; records trimmed by count leave here.
  redis.call('ZREM', KEYS[16], unpack(expired))
  redis.call('ZREM', KEYS[17], unpack(expired))
end

if not schedule_exists then
  redis.call('PEXPIRE', KEYS[5], ARGV[10])
  redis.call('PEXPIRE', KEYS[6], ARGV[10])
  return 2
end
write_schedule(KEYS[4], 24)
if KEYS[7] ~= KEYS[8] then
  redis.call('ZREM', KEYS[7], ARGV[11])
  redis.call('ZADD', KEYS[8], ARGV[12], ARGV[11])
end
if ARGV[19] ~= '' then
  redis.call('ZREM', KEYS[10], ARGV[19])
  redis.call('LREM', KEYS[11], 0, ARGV[19])
  redis.call('DEL', KEYS[12])
end
if backfill then
  if ARGV[13] == '' then
    redis.call('HDEL', KEYS[4], 'backfill_job')
  else
    redis.call('LPOP', KEYS[13])
    redis.call('HSET', KEYS[4], 'backfill_job', ARGV[13])
  end
end
if ARGV[13] ~= '' and (ARGV[20] ~= '1' or backfill) then
  enqueue_job(KEYS[9], KEYS[10], ARGV[13], ARGV[11], ARGV[14], ARGV[15], ARGV[16], ARGV[17])
end
if ARGV[18] == '1' then
  end_run(KEYS[4], KEYS[10], ARGV[5], ARGV[17])
end
if ARGV[22] == '1' then
  redis.call('PEXPIRE', KEYS[4], ARGV[10])
  redis.call('PEXPIRE', KEYS[5], ARGV[10])
  redis.call('PEXPIRE', KEYS[6], ARGV[10])
end
return 1
