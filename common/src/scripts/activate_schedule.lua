-- Makes a schedule active again, as planned in Rust from revision ARGV[1]: a resume from `paused` or a
-- restart from `done` or `dead`. Enqueues the job its counters point at, unless a job from before the pause
-- still runs (it plans the next run when it ends).
-- KEYS[1] schedule (HASH), KEYS[2] schedules by its current status (ZSET), KEYS[3] schedules:active (ZSET),
-- KEYS[4] current job (HASH), KEYS[5] delayed (ZSET)
-- ARGV[1] expected rev, ARGV[2] schedule id, ARGV[3] creation ms, ARGV[4] '1' to enqueue, ARGV[5] job id,
-- ARGV[6] queue, ARGV[7] due ms, ARGV[8] due RFC 3339, ARGV[9] wakeup channel, ARGV[10..] schedule record
-- Returns 1 activated | 0 no such schedule | -2 stale revision
local revision = check_revision(KEYS[1], ARGV[1])
if revision ~= 1 then
  return revision
end
write_schedule(KEYS[1], 10)
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[4]) == 0 then
  enqueue_job(KEYS[4], KEYS[5], ARGV[5], ARGV[2], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
end
return 1
