-- Makes a schedule active again, as planned in Rust from revision `expected_rev`: a resume from `paused` or
-- a restart from `done` or `dead`. Enqueues the job its counters point at, unless a job from before the
-- pause still runs (it plans the next run when it ends).
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] old_status_index: schedules by its current status (ZSET)
-- KEYS[3] active_index: schedules:active (ZSET)
-- KEYS[4] job: the current job (HASH)
-- KEYS[5] delayed: its queue's delayed jobs (ZSET)
-- ARGV[1] expected_rev
-- ARGV[2] schedule_id
-- ARGV[3] created_ms
-- ARGV[4] enqueue: '1' to enqueue the current job
-- ARGV[5] job_id
-- ARGV[6] queue
-- ARGV[7] due_ms
-- ARGV[8] wakeup_channel
-- ARGV[9] recorded: '1' when the record names the job as its live job due then (see enqueue.lua)
-- ARGV[10] record: the schedule record (see write_schedule)
-- Returns 'written' | 'missing' | 'stale' the revision changed
local revision = check_revision(schedule, expected_rev)
if revision ~= 'written' then
  return revision
end
write_schedule(schedule, record)
redis.call('ZREM', old_status_index, schedule_id)
redis.call('ZADD', active_index, created_ms, schedule_id)
if enqueue == '1' and redis.call('EXISTS', job) == 0 then
  enqueue_job(job, delayed, job_id, schedule_id, queue, due_ms, nil, wakeup_channel, recorded)
end
return 'written'
