-- Pauses a schedule planned in Rust from revision `expected_rev` and removes its pending job. A running job
-- is left alone: it finishes, is recorded, and enqueues nothing.
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] active_index: schedules:active (ZSET)
-- KEYS[3] paused_index: schedules:paused (ZSET)
-- KEYS[4] job: the live job (HASH)
-- KEYS[5] delayed: its queue's delayed jobs (ZSET)
-- KEYS[6] ready: its queue's ready list (LIST)
-- ARGV[1] expected_rev
-- ARGV[2] schedule_id
-- ARGV[3] created_ms
-- ARGV[4] live_job_id: or '' when it has none
-- ARGV[5] record: the schedule record (see write_schedule)
-- Returns 'written' | 'missing' | 'stale' the revision changed
local revision = check_revision(schedule, expected_rev)
if revision ~= 'written' then
  return revision
end
write_schedule(schedule, record)
redis.call('ZREM', active_index, schedule_id)
redis.call('ZADD', paused_index, created_ms, schedule_id)
if live_job_id ~= '' then
  local pending = redis.call('ZREM', delayed, live_job_id) + redis.call('LREM', ready, 0, live_job_id)
  if pending > 0 then
    redis.call('DEL', job)
    redis.call('HDEL', schedule, 'live_job')
  end
end
return 'written'
