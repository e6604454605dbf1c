-- Saves a new active schedule and enqueues its first job, if its workflow still exists.
-- KEYS[1] schedule (HASH), KEYS[2] schedules (ZSET), KEYS[3] schedules:active (ZSET), KEYS[4] workflow
-- (STRING), KEYS[5] the workflow's schedules (ZSET), KEYS[6] first job (HASH), KEYS[7] delayed (ZSET),
-- KEYS[8] queues (SET)
-- ARGV[1] schedule id, ARGV[2] creation ms, ARGV[3] job id, ARGV[4] queue, ARGV[5] due ms,
-- ARGV[6] due RFC 3339, ARGV[7] wakeup channel, ARGV[8..] schedule record (see write_schedule)
-- Returns 1 created | -1 the workflow does not exist
if redis.call('EXISTS', KEYS[4]) == 0 then
  return -1
end
write_schedule(KEYS[1], 8)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[8], ARGV[4])
enqueue_job(KEYS[6], KEYS[7], ARGV[3], ARGV[1], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return 1
