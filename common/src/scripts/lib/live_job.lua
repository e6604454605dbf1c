-- Shared step: the live job of schedule `schedule_id` as its record says (see `record.rs`): `live_job` when
-- the record spells it out ('' for none), else, for an active schedule (no `status` field: active) with a
-- next run, the regular job its counters name; none otherwise.
local function live_job_of(schedule_id, live_job, status, next_run_at, current_repeat, current_retry)
  if live_job then
    return live_job ~= '' and live_job or nil
  end
  if (status or 'active') == 'active' and next_run_at then
    return 'sched-' .. schedule_id .. '-n' .. (current_repeat or '0') .. '-rc' .. (current_retry or '0')
  end
  return nil
end
