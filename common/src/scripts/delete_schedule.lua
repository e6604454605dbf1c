-- Deletes a schedule, its pending jobs (regular, backfill, and a manual run waiting for its turn) and its
-- execution history. A running job is left alone: it finishes, its execution is kept for the retention
-- period, and it enqueues nothing.
-- KEYS[1] schedule (HASH), KEYS[2] schedules (ZSET), KEYS[3] schedules by its status (ZSET),
-- KEYS[4] its workflow's schedules (ZSET), KEYS[5] live job (HASH), KEYS[6] delayed (ZSET),
-- KEYS[7] ready (LIST), KEYS[8] executions (HASH), KEYS[9] execution-times (ZSET), KEYS[10] backfill (LIST),
-- KEYS[11] backfill job (HASH), KEYS[12] waiting manual job (HASH)
-- ARGV[1] expected rev, ARGV[2] schedule id, ARGV[3] live job id or '', ARGV[4] backfill job id or '',
-- ARGV[5] waiting manual job id or ''
-- Returns 1 deleted | 0 no such schedule | -2 stale revision
local revision = check_revision(KEYS[1], ARGV[1])
if revision ~= 1 then
  return revision
end
for i, job_id in ipairs({ARGV[3], ARGV[4]}) do
  if job_id ~= '' then
    local pending = redis.call('ZREM', KEYS[6], job_id) + redis.call('LREM', KEYS[7], 0, job_id)
    if pending > 0 then
      redis.call('DEL', KEYS[i == 1 and 5 or 11])
    end
  end
end
if ARGV[5] ~= '' then
  redis.call('DEL', KEYS[12])
end
redis.call('DEL', KEYS[1], KEYS[8], KEYS[9], KEYS[10])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
return 1
