-- Queues one run per past occurrence of a schedule, to run one at a time in order, beside the regular
-- chain: the first is enqueued now unless a backfill is already under way, the rest wait in the schedule's
-- backfill list and each finish enqueues the next. Occurrences already run, running or waiting are left out.
-- KEYS[1] schedule (HASH), KEYS[2] backfill (LIST), KEYS[3] executions (HASH), KEYS[4] delayed (ZSET),
-- KEYS[4 + i] job i (HASH)
-- ARGV[1] schedule id, ARGV[2] queue, ARGV[3] now ms, ARGV[4] wakeup channel; from ARGV[5], for each
-- occurrence in order: job id, occurrence RFC 3339
-- Returns {queued, already run} | {-1} no such schedule
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local queued, already = 0, 0
for i = 5, #ARGV, 2 do
  local job_id = ARGV[i]
  if redis.call('HEXISTS', KEYS[3], job_id .. '-a1') == 1 or redis.call('HGET', KEYS[1], 'backfill_job') == job_id
      or redis.call('LPOS', KEYS[2], job_id) then
    already = already + 1
  elseif redis.call('HEXISTS', KEYS[1], 'backfill_job') == 0 then
    enqueue_job(KEYS[4 + (i - 3) / 2], KEYS[4], job_id, ARGV[1], ARGV[2], ARGV[3], ARGV[i + 1], ARGV[4])
    redis.call('HSET', KEYS[1], 'backfill_job', job_id)
    queued = queued + 1
  else
    redis.call('RPUSH', KEYS[2], job_id)
    queued = queued + 1
  end
end
return {queued, already}
