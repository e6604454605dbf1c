-- Shared step: ends one ad-hoc run, atomically (see finish_runs.lua, whose header lists its keys, its values
-- and its answers; claim_jobs.lua takes a worker's finishes along). Reads the script's bindings
-- execution_index, run_executions, now_ms, wakeup_channel and delayed_pattern.
local function finish_run(first_key, job_id, pending, owner, execution_id, execution_json, expired_before_ms,
                          holds_slot)
  local job, running, leases, delayed, ready, workflow_slots, workflow_waiting, workflow_executions =
    unpack(KEYS, first_key, first_key + 7)
  local skipping = pending == '1'
  local refused = unheld(job, running, leases, job_id, skipping, owner, execution_id, expired_before_ms)
  if refused then
    return refused
  end
  return end_job(job, running, leases, delayed, ready, run_executions, nil, execution_index, workflow_executions,
    workflow_slots, workflow_waiting, job_id, skipping, execution_id, execution_json, holds_slot, now_ms,
    delayed_pattern, wakeup_channel) or 'recorded_without_schedule'
end
