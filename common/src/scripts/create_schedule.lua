-- Saves a new active schedule and enqueues its first job, if its workflow still exists.
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] schedules: all schedules (ZSET; the ad-hoc run index for an ad-hoc run)
-- KEYS[3] status_index: schedules:active (ZSET; the ad-hoc run index for an ad-hoc run)
-- KEYS[4] workflow: its workflow (STRING)
-- KEYS[5] workflow_schedules: the workflow's schedules (ZSET; the ad-hoc run index for an ad-hoc run)
-- KEYS[6] job: the first job (HASH)
-- KEYS[7] delayed: its queue's delayed jobs (ZSET)
-- KEYS[8] queues: every queue (SET)
-- ARGV[1] schedule_id
-- ARGV[2] created_ms
-- ARGV[3] job_id
-- ARGV[4] queue
-- ARGV[5] due_ms
-- ARGV[6] due_at: the due time as RFC 3339
-- ARGV[7] wakeup_channel
-- ARGV[8] record: the schedule record (see write_schedule)
-- Returns 'created' | 'unknown_workflow'
if redis.call('EXISTS', workflow) == 0 then
  return 'unknown_workflow'
end
write_schedule(schedule, record)
redis.call('ZADD', schedules, created_ms, schedule_id)
redis.call('ZADD', status_index, created_ms, schedule_id)
redis.call('ZADD', workflow_schedules, created_ms, schedule_id)
redis.call('SADD', queues, queue)
enqueue_job(job, delayed, job_id, schedule_id, queue, due_ms, due_at, wakeup_channel)
return 'created'
