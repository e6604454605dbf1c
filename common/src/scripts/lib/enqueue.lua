-- Shared steps (prepended to every script that enqueues): create a job record, and put the job in its
-- queue's delayed set. When it becomes the earliest due job, announce its due time so that sleeping
-- workers wake up for it instead of polling. A run reports its due time as `scheduled_for`, except a
-- backfill run (due now), which reports its `occurrence` (RFC 3339; '' or nil for any other job). No
-- attempt field reads as attempt 0.
-- A schedule's live job (`recorded` '1': the schedule's record names it as `live_job`, due at its
-- `next_run_at`) gets no record while it waits: the schedule's says all of it, and most schedules spend
-- their life with one job waiting. `claim_jobs` writes its record when it starts it. Every other job (an
-- ad-hoc run, a manual or backfill run, a retry of an earlier occurrence with overlap `allow`) has one.
local function create_job(job_key, schedule_id, queue, due_ms, occurrence)
  if occurrence and occurrence ~= '' then
    redis.call('HSET', job_key, 'schedule_id', schedule_id, 'queue', queue, 'due_ms', due_ms, 'due_at', occurrence)
  else
    redis.call('HSET', job_key, 'schedule_id', schedule_id, 'queue', queue, 'due_ms', due_ms)
  end
end

local function make_due(delayed_key, job_id, due_ms, channel)
  redis.call('ZADD', delayed_key, due_ms, job_id)
  if redis.call('ZRANGE', delayed_key, 0, 0)[1] == job_id then
    redis.call('PUBLISH', channel, due_ms)
  end
end

local function enqueue_job(job_key, delayed_key, job_id, schedule_id, queue, due_ms, occurrence, channel, recorded)
  if recorded ~= '1' then
    create_job(job_key, schedule_id, queue, due_ms, occurrence)
  end
  make_due(delayed_key, job_id, due_ms, channel)
end
