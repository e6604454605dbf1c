-- Saves new active schedules and enqueues the first job of each, if its workflow still exists: one call for
-- a whole bulk request (or one schedule).
-- KEYS[1] queues: every queue (SET)
-- KEYS[2] workflow_uses: workflow id -> how many schedules use it (HASH)
-- KEYS[3..] schedule_keys: for each schedule, 5 keys: the schedule (HASH), schedules:active (ZSET), its workflow
-- (STRING), its first job (HASH), its queue's delayed jobs (ZSET)
-- ARGV[1] wakeup_channel
-- ARGV[2..] schedule_args: for each schedule, 8 values: schedule id, workflow id, creation ms, first job id,
-- queue, due ms, '1' when the record names the job as its live job due then (see enqueue.lua), the schedule
-- record (see write_schedule)
-- Returns one answer per schedule, in order: 'created' | 'unknown_workflow'
local function create(first_key, schedule_id, workflow_id, created_ms, job_id, queue, due_ms, recorded, record)
  local schedule, status_index, workflow, job, delayed = unpack(KEYS, first_key, first_key + 4)
  if redis.call('EXISTS', workflow) == 0 then
    return 'unknown_workflow'
  end
  write_schedule(schedule, record)
  redis.call('ZADD', status_index, created_ms, schedule_id)
  add_use(workflow_uses, workflow_id)
  redis.call('SADD', queues, queue)
  enqueue_job(job, delayed, job_id, schedule_id, queue, due_ms, nil, wakeup_channel, recorded)
  return 'created'
end

return each_item(schedule_keys, 5, schedule_args, 8, create)
