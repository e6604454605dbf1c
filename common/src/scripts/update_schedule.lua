-- Applies a PATCH planned in Rust from revision ARGV[1]. When timing or queue changed, a pending job moves
-- to its new due time and queue; a running job plans the next run from the new settings when it ends.
-- KEYS[1] schedule (HASH), KEYS[2] old workflow's schedules (ZSET), KEYS[3] new workflow's schedules
-- (ZSET), KEYS[4] new workflow (STRING), KEYS[5] live job (HASH), KEYS[6] old queue's delayed (ZSET),
-- KEYS[7] old queue's ready (LIST), KEYS[8] new queue's delayed (ZSET), KEYS[9] queues (SET)
-- ARGV[1] expected rev, ARGV[2] schedule id, ARGV[3] creation ms, ARGV[4] '1' to re-plan the live job,
-- ARGV[5] live job id, ARGV[6] new queue, ARGV[7] due ms, ARGV[8] due RFC 3339, ARGV[9] wakeup channel,
-- ARGV[10..] schedule record
-- Returns 1 updated | 0 no such schedule | -1 the new workflow does not exist | -2 stale revision
local revision = check_revision(KEYS[1], ARGV[1])
if revision ~= 1 then
  return revision
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  return -1
end
if KEYS[2] ~= KEYS[3] then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
end
if ARGV[4] == '1' then
  local pending = redis.call('ZREM', KEYS[6], ARGV[5]) + redis.call('LREM', KEYS[7], 0, ARGV[5])
  if pending > 0 or redis.call('EXISTS', KEYS[5]) == 0 then
    enqueue_job(KEYS[5], KEYS[8], ARGV[5], ARGV[2], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
  end
end
redis.call('SADD', KEYS[9], ARGV[6])
write_schedule(KEYS[1], 10)
return 1
