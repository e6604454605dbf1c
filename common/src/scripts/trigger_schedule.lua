-- Adds an extra, manual run of a schedule, due now, beside its regular chain, obeying the schedule's
-- overlap policy while a run is under way: `skip` refuses, `buffer_one` lets one manual run wait for the
-- current run to end, `allow` runs at once.
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] job: the manual job (HASH)
-- KEYS[3] delayed: its queue's delayed jobs (ZSET)
-- ARGV[1] schedule_id
-- ARGV[2] job_id
-- ARGV[3] queue
-- ARGV[4] now_ms
-- ARGV[5] wakeup_channel
-- Returns 'enqueued' | 'waiting' for the run under way | 'missing' | 'refused' a run is under way and the
-- policy is skip | 'already_waiting' a manual run already waits
local state = redis.call('HMGET', schedule, 'rev', 'running_jobs', 'overlap', 'buffered_job')
if not state[1] then
  return 'missing'
end
-- No overlap field is the default, skip.
if tonumber(state[2] or '0') > 0 and state[3] ~= 'allow' then
  if state[3] ~= 'buffer_one' then
    return 'refused'
  end
  if state[4] then
    return 'already_waiting'
  end
  create_job(job, schedule_id, queue, now_ms, nil)
  redis.call('HSET', schedule, 'buffered_job', job_id)
  return 'waiting'
end
enqueue_job(job, delayed, job_id, schedule_id, queue, now_ms, nil, wakeup_channel)
return 'enqueued'
