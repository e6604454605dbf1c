-- Enqueues an extra, manual run of a schedule, due now. It never touches the regular chain.
-- KEYS[1] schedule (HASH), KEYS[2] manual job (HASH), KEYS[3] delayed (ZSET)
-- ARGV[1] schedule id, ARGV[2] job id, ARGV[3] queue, ARGV[4] now ms, ARGV[5] now RFC 3339,
-- ARGV[6] wakeup channel
-- Returns 1 enqueued | 0 no such schedule
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
enqueue_job(KEYS[2], KEYS[3], ARGV[2], ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
