-- Claims the next due job for one worker, from the first of its queues that has one, with a lease.
-- Due jobs are promoted in bounded batches only when a ready list runs dry, which keeps due order and
-- costs the common claim two commands.
-- KEYS[1..] queue_keys: for each queue in priority order, 4 keys: delayed (ZSET), ready (LIST),
-- running (HASH), leases (ZSET)
-- ARGV[1] now_ms
-- ARGV[2] lease_until_ms
-- ARGV[3] worker_id
-- ARGV[4] batch: how many due jobs one promotion moves at most
-- Returns {'claimed', job id, queue index from 1} | {'empty', earliest due ms of the queues} |
-- {'empty'} when every queue is empty
local earliest = nil
for i = queue_keys, #KEYS, 4 do
  local delayed, ready = KEYS[i], KEYS[i + 1]
  local job = redis.call('LPOP', ready)
  if not job and promote_due(delayed, ready, now_ms, tonumber(batch)) > 0 then
    job = redis.call('LPOP', ready)
  end
  if job then
    redis.call('HSET', KEYS[i + 2], job, worker_id)
    redis.call('ZADD', KEYS[i + 3], lease_until_ms, job)
    return {'claimed', job, (i - queue_keys) / 4 + 1}
  end
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
  if first and (not earliest or tonumber(first) < earliest) then
    earliest = tonumber(first)
  end
end
if earliest then
  return {'empty', earliest}
end
return {'empty'}
