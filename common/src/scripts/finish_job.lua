-- Ends a job in one step: checks the job is still held by its owner (or, for a pending job the reconciler
-- skips, takes it out of its queue), records the execution (trimming the history to the retention bounds),
-- writes the schedule's next state planned in Rust from revision `expected_rev`, and enqueues the next job.
-- The reconciler also ends abandoned jobs here, with `expired_before_ms` set so that a lease renewed
-- meanwhile wins.
-- KEYS[1] job: the job (HASH)
-- KEYS[2] running: the queue's claimed jobs (HASH)
-- KEYS[3] leases: the queue's leases (ZSET)
-- KEYS[4] schedule: the schedule (HASH)
-- KEYS[5] executions: the schedule's executions (HASH)
-- KEYS[6] execution_times: the schedule's execution index (ZSET)
-- KEYS[7] old_status_index: schedules by the old status (ZSET)
-- KEYS[8] status_index: schedules by the new status (ZSET)
-- KEYS[9] next_job: the next job (HASH)
-- KEYS[10] delayed: the schedule queue's delayed jobs (ZSET)
-- KEYS[11] ready: its ready list (LIST)
-- KEYS[12] dropped_job: the pending job to drop (HASH)
-- KEYS[13] backfill: the schedule's waiting backfill jobs (LIST)
-- KEYS[14] workflow_slots: the workflow's slots (ZSET)
-- KEYS[15] workflow_waiting: the jobs waiting for a slot (ZSET)
-- KEYS[16] execution_index: every execution (ZSET)
-- KEYS[17] workflow_executions: the workflow's executions (ZSET)
-- ARGV[1] job_id
-- ARGV[2] pending: '1' for a job never started that the reconciler skips
-- ARGV[3] owner: the worker holding it ('' when pending)
-- ARGV[4] execution_id
-- ARGV[5] execution_json: the execution as it ended
-- ARGV[6] now_ms
-- ARGV[7] expired_before_ms: its lease must have ended before this, or '0'
-- ARGV[8] expected_rev
-- ARGV[9] keep: executions to keep per schedule
-- ARGV[10] drop_before_ms: drop executions started before this
-- ARGV[11] retention_ms: the retention age
-- ARGV[12] schedule_id
-- ARGV[13] created_ms
-- ARGV[14] next_job_id: or ''
-- ARGV[15] next_queue
-- ARGV[16] next_due_ms
-- ARGV[17] next_due_at: RFC 3339
-- ARGV[18] wakeup_channel
-- ARGV[19] counted_as_run: '1' if the job counted as a run under way
-- ARGV[20] dropped_job_id: a pending job to drop, or ''
-- ARGV[21] is_backfill: '1' for a backfill job (the next job is then the head of the backfill list)
-- ARGV[22] delayed_pattern: the delayed key with `<queue>`
-- ARGV[23] expire_records: '1' to let the schedule's records expire after the retention period (an ad-hoc
-- run that ended)
-- ARGV[24] holds_slot: '1' if the job holds a workflow slot
-- ARGV[25] trim_batch: executions trimmed at most per call, so one call never does unbounded work
-- ARGV[26] record: the schedule record (see write_schedule)
-- Returns 'recorded' | 'recorded_without_schedule' the schedule was deleted | 'lost' not this owner's job
-- (or no longer pending) | 'stale' the revision or the backfill list changed
local skipping = pending == '1'
if not skipping and not (held_by(running, leases, job_id, owner, expired_before_ms)
    and redis.call('HGET', job, 'execution_id') == execution_id) then
  return 'lost'
end
local rev = redis.call('HGET', schedule, 'rev')
local schedule_exists = rev ~= false
if schedule_exists and rev ~= expected_rev then
  return 'stale'
end
local backfill_turn = is_backfill == '1' and schedule_exists and redis.call('HGET', schedule, 'backfill_job') == job_id
if backfill_turn and (redis.call('LINDEX', backfill, 0) or '') ~= next_job_id then
  return 'stale'
end
if skipping then
  if redis.call('ZREM', delayed, job_id) + redis.call('LREM', ready, 0, job_id) == 0 then
    return 'lost'
  end
else
  redis.call('HDEL', running, job_id)
  redis.call('ZREM', leases, job_id)
end
redis.call('DEL', job)
redis.call('HSET', executions, execution_id, execution_json)
if holds_slot == '1' then
  free_slot(workflow_slots, workflow_waiting, job_id, now_ms, delayed_pattern, wakeup_channel)
end
if skipping then
  -- Never started: index the skipped record at the time it was skipped.
  redis.call('ZADD', execution_times, now_ms, execution_id)
  redis.call('ZADD', execution_index, now_ms, execution_id)
  redis.call('ZADD', workflow_executions, now_ms, execution_id)
end

-- Retention: oldest first, at most `trim_batch` records a call.
local expired = redis.call('ZRANGEBYSCORE', execution_times, '-inf', '(' .. drop_before_ms, 'LIMIT', 0, trim_batch)
local excess = redis.call('ZCARD', execution_times) - #expired - tonumber(keep)
if excess > 0 then
  expired = redis.call('ZRANGE', execution_times, 0, #expired + math.min(excess, tonumber(trim_batch)) - 1)
end
if #expired > 0 then
  redis.call('HDEL', executions, unpack(expired))
  redis.call('ZREM', execution_times, unpack(expired))
  -- The cross-schedule indexes are trimmed by age in the reconciler; records trimmed by count leave here.
  redis.call('ZREM', execution_index, unpack(expired))
  redis.call('ZREM', workflow_executions, unpack(expired))
end

if not schedule_exists then
  redis.call('PEXPIRE', executions, retention_ms)
  redis.call('PEXPIRE', execution_times, retention_ms)
  return 'recorded_without_schedule'
end
write_schedule(schedule, record)
if old_status_index ~= status_index then
  redis.call('ZREM', old_status_index, schedule_id)
  redis.call('ZADD', status_index, created_ms, schedule_id)
end
if dropped_job_id ~= '' then
  redis.call('ZREM', delayed, dropped_job_id)
  redis.call('LREM', ready, 0, dropped_job_id)
  redis.call('DEL', dropped_job)
end
if backfill_turn then
  if next_job_id == '' then
    redis.call('HDEL', schedule, 'backfill_job')
  else
    redis.call('LPOP', backfill)
    redis.call('HSET', schedule, 'backfill_job', next_job_id)
  end
end
if next_job_id ~= '' and (is_backfill ~= '1' or backfill_turn) then
  enqueue_job(next_job, delayed, next_job_id, schedule_id, next_queue, next_due_ms, next_due_at, wakeup_channel)
end
if counted_as_run == '1' then
  end_run(schedule, delayed, now_ms, wakeup_channel)
end
if expire_records == '1' then
  redis.call('PEXPIRE', schedule, retention_ms)
  redis.call('PEXPIRE', executions, retention_ms)
  redis.call('PEXPIRE', execution_times, retention_ms)
end
return 'recorded'
