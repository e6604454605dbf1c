-- Shared step: a run that counted as under way has ended (finished or handed back). When it was the last
-- one, a manual run waiting for it (overlap `buffer_one`) becomes due now.
local function end_run(schedule_key, delayed_key, now_ms, channel)
  local running = redis.call('HINCRBY', schedule_key, 'running_jobs', -1)
  if running > 0 then
    return
  end
  if running < 0 then
    -- A run started before the count existed; never let the count go below zero.
    redis.call('HSET', schedule_key, 'running_jobs', 0)
  end
  local buffered = redis.call('HGET', schedule_key, 'buffered_job')
  if buffered then
    redis.call('HDEL', schedule_key, 'buffered_job')
    make_due(delayed_key, buffered, now_ms, channel)
  end
end
