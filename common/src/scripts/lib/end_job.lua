-- Shared steps of ending a job, for `finish_jobs` (a schedule's jobs) and `finish_runs` (ad-hoc runs): the
-- check that it may end, then the end itself. The claims that end are released once per queue and call
-- rather than once per job: `release` notes each, `release_all` ends the call with one HDEL and one ZREM
-- per queue.
local released, released_leases, running_keys = {}, {}, {}
local function release(running, leases, job_id)
  if not released[running] then
    released[running], released_leases[running] = {}, leases
    running_keys[#running_keys + 1] = running
  end
  table.insert(released[running], job_id)
end

local function release_all()
  for _, running in ipairs(running_keys) do
    redis.call('HDEL', running, unpack(released[running]))
    redis.call('ZREM', released_leases[running], unpack(released[running]))
  end
end

-- Whether a job may end: pending (`skipping`: still delayed or ready, never started), or held by `owner`
-- with `execution_id` running (see held_by). nil when it may; else the answer, 'lost' or 'gone' (its record
-- no longer exists).
local function unheld(job, running, leases, job_id, skipping, owner, execution_id, expired_before_ms)
  if skipping or (held_by(running, leases, job_id, owner, expired_before_ms)
      and redis.call('HGET', job, 'execution_id') == execution_id) then
    return nil
  end
  return redis.call('EXISTS', job) == 1 and 'lost' or 'gone'
end

-- Ends a job that may end: a pending one leaves its queue (answers 'lost', changing nothing, when it is no
-- longer there), a held one's claim is released; then its record goes, its execution is recorded in
-- `executions` and its workflow slot (`holds_slot` '1') is freed. A pending job never started, so its
-- execution is indexed now, at the time it ended: in `execution_times` too, a schedule's own index (nil for
-- a run, which has none). nil when it ended.
local function end_job(job, running, leases, delayed, ready, executions, execution_times, execution_index,
                       workflow_executions, workflow_slots, workflow_waiting, job_id, skipping, execution_id,
                       execution_json, holds_slot, now_ms, delayed_pattern, wakeup_channel)
  if skipping then
    if redis.call('ZREM', delayed, job_id) + redis.call('LREM', ready, 0, job_id) == 0 then
      return 'lost'
    end
  else
    release(running, leases, job_id)
  end
  redis.call('DEL', job)
  redis.call('HSET', executions, execution_id, execution_json)
  if holds_slot == '1' then
    free_slot(workflow_slots, workflow_waiting, job_id, now_ms, delayed_pattern, wakeup_channel)
  end
  if skipping then
    if execution_times then
      redis.call('ZADD', execution_times, now_ms, execution_id)
    end
    redis.call('ZADD', execution_index, now_ms, execution_id)
    redis.call('ZADD', workflow_executions, now_ms, execution_id)
  end
  return nil
end
