-- Queues one run per past occurrence of a schedule, to run one at a time in order, beside the regular
-- chain: the first is enqueued now unless a backfill is already under way, the rest wait in the schedule's
-- backfill list and each finish enqueues the next. Occurrences already run, running or waiting are left out.
-- KEYS[1] schedule: the schedule (HASH)
-- KEYS[2] backfill: its waiting backfill jobs (LIST)
-- KEYS[3] executions: its executions (HASH)
-- KEYS[4] delayed: its queue's delayed jobs (ZSET)
-- KEYS[5..] jobs: for each occurrence in order, its job (HASH)
-- ARGV[1] schedule_id
-- ARGV[2] queue
-- ARGV[3] now_ms
-- ARGV[4] wakeup_channel
-- ARGV[5..] occurrences: for each occurrence in order, 3 values: job id, its first execution's id, the
-- occurrence as RFC 3339
-- Returns {'queued', runs queued, occurrences already run} | {'missing'}
if redis.call('EXISTS', schedule) == 0 then
  return {'missing'}
end
local queued, already = 0, 0
for i = occurrences, #ARGV, 3 do
  local job_id, first_execution, at = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local job = KEYS[jobs + (i - occurrences) / 3]
  if redis.call('HEXISTS', executions, first_execution) == 1 or redis.call('HGET', schedule, 'backfill_job') == job_id
      or redis.call('LPOS', backfill, job_id) then
    already = already + 1
  elseif redis.call('HEXISTS', schedule, 'backfill_job') == 0 then
    enqueue_job(job, delayed, job_id, schedule_id, queue, now_ms, at, wakeup_channel)
    redis.call('HSET', schedule, 'backfill_job', job_id)
    queued = queued + 1
  else
    redis.call('RPUSH', backfill, job_id)
    queued = queued + 1
  end
end
return {'queued', queued, already}
