-- Claims the next due job for one worker, from the first of its queues that has one, with a lease.
-- Due jobs are promoted in bounded batches only when a ready list runs dry, which keeps due order and
-- costs the common claim two commands.
-- KEYS[4i-3] delayed (ZSET), KEYS[4i-2] ready (LIST), KEYS[4i-1] running (HASH), KEYS[4i] leases (ZSET),
-- for queue i in priority order
-- ARGV[1] now ms, ARGV[2] lease expiry ms, ARGV[3] worker id, ARGV[4] promotion batch size
-- Returns {job id, queue index from 1} | {'', earliest due ms of the queues or -1 when all are empty}
local now, lease_until, worker, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local earliest = -1
for i = 1, #KEYS, 4 do
  local delayed, ready = KEYS[i], KEYS[i + 1]
  local job = redis.call('LPOP', ready)
  if not job and promote_due(delayed, ready, now, batch) > 0 then
    job = redis.call('LPOP', ready)
  end
  if job then
    redis.call('HSET', KEYS[i + 2], job, worker)
    redis.call('ZADD', KEYS[i + 3], lease_until, job)
    return {job, (i + 3) / 4}
  end
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
  if first and (earliest < 0 or tonumber(first) < earliest) then
    earliest = tonumber(first)
  end
end
return {'', earliest}
