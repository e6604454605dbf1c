-- Adds an extra, manual run of a schedule, due now, beside its regular chain, obeying the schedule's
-- overlap policy while a run is under way: `skip` refuses, `buffer_one` lets one manual run wait for the
-- current run to end, `allow` runs at once.
-- KEYS[1] schedule (HASH), KEYS[2] manual job (HASH), KEYS[3] delayed (ZSET)
-- ARGV[1] schedule id, ARGV[2] job id, ARGV[3] queue, ARGV[4] now ms, ARGV[5] now RFC 3339,
-- ARGV[6] wakeup channel
-- Returns 1 enqueued | 2 waiting for the run under way | 0 no such schedule | -3 a run is under way and
-- the policy is skip | -4 a manual run already waits
local state = redis.call('HMGET', KEYS[1], 'rev', 'running_jobs', 'overlap', 'buffered_job')
if not state[1] then
  return 0
end
if tonumber(state[2] or '0') > 0 and state[3] ~= 'allow' then
  if state[3] ~= 'buffer_one' then
    return -3
  end
  if state[4] then
    return -4
  end
  create_job(KEYS[2], ARGV[1], ARGV[3], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[1], 'buffered_job', ARGV[2])
  return 2
end
enqueue_job(KEYS[2], KEYS[3], ARGV[2], ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
