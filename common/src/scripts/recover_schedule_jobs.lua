-- For a page of schedules read in Rust: an active schedule whose live job is in no delayed set, ready list
-- or running hash (lost to a crash between steps, a flushed queue, a restore) gets that job again under
-- its deterministic id. Schedules changed since they were read are skipped; the next pass sees them.
-- For schedule i: KEYS[5i-4] schedule (HASH), KEYS[5i-3] its live job (HASH), KEYS[5i-2] delayed (ZSET),
-- KEYS[5i-1] ready (LIST), KEYS[5i] running (HASH)
-- ARGV[1] wakeup channel; for schedule i from ARGV[6i-4]: expected rev, schedule id, job id, queue,
-- due ms, due RFC 3339
-- Returns the number of jobs created
local recovered = 0
for i = 1, #KEYS / 5 do
  local k, a = 5 * i - 4, 6 * i - 4
  local schedule, job, delayed, ready, running = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local job_id = ARGV[a + 2]
  local current = redis.call('HMGET', schedule, 'rev', 'status')
  if current[1] == ARGV[a] and current[2] == 'active' then
    local live = redis.call('EXISTS', job) == 1 and (redis.call('ZSCORE', delayed, job_id)
      or redis.call('HEXISTS', running, job_id) == 1 or redis.call('LPOS', ready, job_id))
    if not live then
      enqueue_job(job, delayed, job_id, ARGV[a + 1], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[1])
      redis.call('HSET', schedule, 'live_job', job_id, 'next_run_at', ARGV[a + 4])
      redis.call('HINCRBY', schedule, 'rev', 1)
      recovered = recovered + 1
    end
  end
end
return recovered
