-- Pauses a schedule planned in Rust from revision ARGV[1] and removes its pending job. A running job is
-- left alone: it finishes, is recorded, and enqueues nothing.
-- KEYS[1] schedule (HASH), KEYS[2] schedules:active (ZSET), KEYS[3] schedules:paused (ZSET),
-- KEYS[4] live job (HASH), KEYS[5] delayed (ZSET), KEYS[6] ready (LIST)
-- ARGV[1] expected rev, ARGV[2] schedule id, ARGV[3] creation ms, ARGV[4] live job id or '',
-- ARGV[5..] schedule record
-- Returns 1 paused | 0 no such schedule | -2 stale revision
local revision = check_revision(KEYS[1], ARGV[1])
if revision ~= 1 then
  return revision
end
write_schedule(KEYS[1], 5)
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
if ARGV[4] ~= '' then
  local pending = redis.call('ZREM', KEYS[5], ARGV[4]) + redis.call('LREM', KEYS[6], 0, ARGV[4])
  if pending > 0 then
    redis.call('DEL', KEYS[4])
    redis.call('HDEL', KEYS[1], 'live_job')
  end
end
return 1
