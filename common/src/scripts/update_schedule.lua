-- Applies a PATCH planned in Rust from revision `expected_rev`. When timing or queue changed, a pending job
-- moves to its new due time and queue; a running job plans the next run from the new settings when it ends.
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] workflow_uses: workflow id -> how many schedules use it (HASH)
-- KEYS[3] old_legacy_workflow_schedules: the old workflow's index from before workflow_uses (ZSET)
-- KEYS[4] workflow: the new workflow (STRING)
-- KEYS[5] job: the live job (HASH)
-- KEYS[6] old_delayed: the old queue's delayed jobs (ZSET)
-- KEYS[7] old_ready: the old queue's ready list (LIST)
-- KEYS[8] delayed: the new queue's delayed jobs (ZSET)
-- KEYS[9] queues: every queue (SET)
-- ARGV[1] expected_rev
-- ARGV[2] schedule_id
-- ARGV[3] old_workflow_id
-- ARGV[4] workflow_id
-- ARGV[5] replan: '1' to move the live job (or enqueue it when it is new)
-- ARGV[6] job_id: the live job
-- ARGV[7] queue: the new queue
-- ARGV[8] due_ms
-- ARGV[9] wakeup_channel
-- ARGV[10] recorded: '1' when the record names the job as its live job due then (see enqueue.lua)
-- ARGV[11] record: the schedule record (see write_schedule)
-- Returns 'written' | 'missing' | 'unknown_workflow' | 'stale' the revision changed
local revision = check_revision(schedule, expected_rev)
if revision ~= 'written' then
  return revision
end
if redis.call('EXISTS', workflow) == 0 then
  return 'unknown_workflow'
end
if old_workflow_id ~= workflow_id then
  remove_use(workflow_uses, old_legacy_workflow_schedules, old_workflow_id, schedule_id)
  add_use(workflow_uses, workflow_id)
end
if replan == '1' then
  local pending = redis.call('ZREM', old_delayed, job_id) + redis.call('LREM', old_ready, 0, job_id)
  if pending > 0 or redis.call('EXISTS', job) == 0 then
    enqueue_job(job, delayed, job_id, schedule_id, queue, due_ms, nil, wakeup_channel, recorded)
  end
end
redis.call('SADD', queues, queue)
write_schedule(schedule, record)
return 'written'
