-- Shared step: ends one job of a schedule, atomically (see finish_jobs.lua, whose header lists its keys, its
-- values and its answers; claim_jobs.lua takes a worker's finishes along). Reads the script's bindings
-- execution_index, now_ms, keep, drop_before_ms, retention_ms, wakeup_channel, delayed_pattern and trim_batch.
local function finish_job(first_key, job_id, pending, owner, execution_id, execution_json, expired_before_ms,
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
