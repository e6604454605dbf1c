-- Deletes a schedule, its pending jobs (regular, backfill, and a manual run waiting for its turn) and its
-- execution history. A running job is left alone: it finishes, its execution is kept for the retention
-- period, and it enqueues nothing.
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] status_index: schedules by its status (ZSET)
-- KEYS[3] workflow_uses: workflow id -> how many schedules use it (HASH)
-- KEYS[4] legacy_workflow_schedules: its workflow's index from before workflow_uses (ZSET)
-- KEYS[5] live_job: the live job (HASH)
-- KEYS[6] delayed: its queue's delayed jobs (ZSET)
-- KEYS[7] ready: its queue's ready list (LIST)
-- KEYS[8] executions: its executions (HASH)
-- KEYS[9] execution_times: its execution index (ZSET)
-- KEYS[10] backfill: its waiting backfill jobs (LIST)
-- KEYS[11] backfill_job: the backfill job under way (HASH)
-- KEYS[12] buffered_job: the manual job waiting for its turn (HASH)
-- ARGV[1] expected_rev
-- ARGV[2] schedule_id
-- ARGV[3] workflow_id
-- ARGV[4] live_job_id: or ''
-- ARGV[5] backfill_job_id: or ''
-- ARGV[6] buffered_job_id: or ''
-- Returns 'written' deleted | 'missing' | 'stale' the revision changed
local revision = check_revision(schedule, expected_rev)
if revision ~= 'written' then
  return revision
end
for _, pending in ipairs({{live_job_id, live_job}, {backfill_job_id, backfill_job}}) do
  local job_id, job = pending[1], pending[2]
  if job_id ~= '' and redis.call('ZREM', delayed, job_id) + redis.call('LREM', ready, 0, job_id) > 0 then
    redis.call('DEL', job)
  end
end
if buffered_job_id ~= '' then
  redis.call('DEL', buffered_job)
end
redis.call('DEL', schedule, executions, execution_times, backfill)
redis.call('ZREM', status_index, schedule_id)
remove_use(workflow_uses, legacy_workflow_schedules, workflow_id, schedule_id)
return 'written'
