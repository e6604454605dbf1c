-- Ends jobs of schedules, each in one atomic step, several per call (a worker's finishes that completed
-- together; `finish_runs` ends ad-hoc runs). For each: checks the job is still held by its owner (or, for a
-- pending job the reconciler skips, takes it out of its queue), records the execution (trimming the history
-- to the retention bounds), writes the schedule's next state planned in Rust from revision `expected_rev`,
-- and enqueues the next job. The reconciler also ends abandoned jobs here, with `expired_before_ms` set so
-- that a lease renewed meanwhile wins. A finish that finds its schedule changed answers 'stale' and changes
-- nothing; the others still land.
-- KEYS[1] execution_index: every execution (ZSET)
-- KEYS[2..] finish_keys: for each finish, 16 keys: the job (HASH), the queue's running (HASH) and leases
-- (ZSET), the schedule (HASH), its executions (HASH) and execution index (ZSET), schedules by the old status
-- and by the new status (ZSET), the next job (HASH), the schedule queue's delayed (ZSET) and ready (LIST),
-- the pending job to drop (HASH), the schedule's waiting backfill jobs (LIST), the workflow's slots (ZSET),
-- the jobs waiting for a slot (ZSET) and the workflow's executions (ZSET)
-- ARGV[1] now_ms
-- ARGV[2] keep: executions to keep per schedule
-- ARGV[3] drop_before_ms: drop executions started before this
-- ARGV[4] retention_ms: the retention age
-- ARGV[5] wakeup_channel
-- ARGV[6] delayed_pattern: the delayed key with `<queue>`
-- ARGV[7] trim_batch: executions trimmed at most per finish, so one call never does unbounded work
-- ARGV[8..] finish_args: for each finish, 20 values: job id, for a pending job never started that the
-- reconciler skips the schedule's `running_jobs` its plan saw ('' otherwise), the owner worker ('' when
-- pending), execution id, the execution's JSON as it ended, '0' or the ms its lease must have ended before,
-- expected schedule rev, schedule id, schedule creation ms, next job id or '', next queue, next due ms, the
-- next job's occurrence as RFC 3339 when it differs from its due time (a backfill run) or '', '1' when the
-- schedule record names the next job as its live job due then (see enqueue.lua), '1' if the job counted as
-- a run under way, a pending job to drop or '', '1' for a backfill job (the next job is then the head of
-- the backfill list), '1' if the job holds a workflow slot, '1' to trim the schedule's history to the
-- retention bounds (every 16th finish of a schedule, so the trim is paid for once per 16), the schedule
-- record (see write_schedule)
-- Returns one answer per finish, in order: 'recorded' | 'recorded_without_schedule' the schedule was deleted
-- (its history expires after the retention period) | 'lost' not this owner's job (or no longer pending) |
-- 'gone' the job's record no longer exists (deleted, or Redis lost its data) | 'stale' the revision or the
-- backfill list changed
local function finish(first_key, job_id, pending, owner, execution_id, execution_json, expired_before_ms,
                      expected_rev, schedule_id, created_ms, next_job_id, next_queue, next_due_ms, next_occurrence,
                      next_recorded, counted_as_run, dropped_job_id, is_backfill, holds_slot, trim, record)
  local job, running, leases, schedule, executions, execution_times, old_status_index, status_index, next_job,
        delayed, ready, dropped_job, backfill, workflow_slots, workflow_waiting, workflow_executions =
    unpack(KEYS, first_key, first_key + 15)
  local skipping = pending ~= ''
  local refused = unheld(job, running, leases, job_id, skipping, owner, execution_id, expired_before_ms)
  if refused then
    return refused
  end
  local rev = redis.call('HGET', schedule, 'rev')
  local schedule_exists = rev ~= false
  if schedule_exists and rev ~= expected_rev then
    return 'stale'
  end
  -- A skip may rest on the runs under way (overlap), which change without a revision: re-plan if they did.
  if skipping and math.max(0, tonumber(redis.call('HGET', schedule, 'running_jobs') or '0')) ~= tonumber(pending) then
    return 'stale'
  end
  local backfill_turn = is_backfill == '1' and schedule_exists and redis.call('HGET', schedule, 'backfill_job') == job_id
  if backfill_turn and (redis.call('LINDEX', backfill, 0) or '') ~= next_job_id then
    return 'stale'
  end
  local lost = end_job(job, running, leases, delayed, ready, executions, execution_times, execution_index,
    workflow_executions, workflow_slots, workflow_waiting, job_id, skipping, execution_id, execution_json,
    holds_slot, now_ms, delayed_pattern, wakeup_channel)
  if lost then
    return lost
  end

  -- Retention: oldest first, at most `trim_batch` records a call.
  local expired = {}
  if trim == '1' then
    expired = redis.call('ZRANGEBYSCORE', execution_times, '-inf', '(' .. drop_before_ms, 'LIMIT', 0, trim_batch)
    local excess = redis.call('ZCARD', execution_times) - #expired - tonumber(keep)
    if excess > 0 then
      expired = redis.call('ZRANGE', execution_times, 0, #expired + math.min(excess, tonumber(trim_batch)) - 1)
    end
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
    enqueue_job(next_job, delayed, next_job_id, schedule_id, next_queue, next_due_ms, next_occurrence,
      wakeup_channel, next_recorded)
  end
  if counted_as_run == '1' then
    end_run(schedule, delayed, now_ms, wakeup_channel)
  end
  return 'recorded'
end

local answers = each_item(finish_keys, 16, finish_args, 20, finish)
release_all()
return answers
