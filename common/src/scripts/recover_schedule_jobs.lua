-- For a page of schedules read in Rust: an active schedule whose live job is in no delayed set, ready list
-- or running hash (lost to a crash between steps, a flushed queue, a restore) gets that job again under
-- its deterministic id. Schedules changed since they were read are skipped; the next pass sees them. Adds
-- the page's queues to the queue index (rebuilding it if it was lost) and records where the walk resumes.
-- KEYS[1] reconcile_cursor: the rank the next page starts at (STRING)
-- KEYS[2] queues: names of the queues in use (SET)
-- KEYS[3..] schedule_keys: for each schedule, 4 keys: schedule (HASH), delayed (ZSET), ready (LIST),
-- running (HASH)
-- ARGV[1] wakeup_channel
-- ARGV[2] next_rank: where the walk resumes (0 when this page ended it)
-- ARGV[3..] schedule_args: for each schedule, 5 values: expected rev, schedule id, job id, queue, due ms
-- Returns the number of jobs created
local recovered = 0
local seen, names = {}, {}
for i = 0, (#KEYS - schedule_keys + 1) / 4 - 1 do
  local k, a = schedule_keys + 4 * i, schedule_args + 5 * i
  local schedule, delayed, ready, running = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local expected_rev, schedule_id, job_id = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local queue, due_ms = ARGV[a + 3], ARGV[a + 4]
  if not seen[queue] then
    seen[queue] = true
    names[#names + 1] = queue
  end
  local current = redis.call('HMGET', schedule, 'rev', 'status', 'current_repeat', 'current_retry')
  -- No status field reads as active (see `record.rs`).
  if current[1] == expected_rev and (current[2] or 'active') == 'active' then
    -- A waiting live job has no record of its own (see enqueue.lua): where it is tells whether it lives.
    local live = redis.call('ZSCORE', delayed, job_id) or redis.call('HEXISTS', running, job_id) == 1
      or redis.call('LPOS', ready, job_id)
    if not live then
      make_due(delayed, job_id, due_ms, wakeup_channel)
      redis.call('HSET', schedule, 'next_run_at', due_ms)
      -- Spelled out only where the counters name another job.
      if job_id == live_job_of(schedule_id, nil, 'active', due_ms, current[3], current[4]) then
        redis.call('HDEL', schedule, 'live_job')
      else
        redis.call('HSET', schedule, 'live_job', job_id)
      end
      redis.call('HINCRBY', schedule, 'rev', 1)
      recovered = recovered + 1
    end
  end
end
if #names > 0 then
  redis.call('SADD', queues, unpack(names))
end
redis.call('SET', reconcile_cursor, next_rank)
return recovered
