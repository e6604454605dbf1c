-- Claims up to `count` due jobs for one worker, from its queues in priority order, each with a lease, in
-- one call. Each call first promotes a bounded batch of due jobs to the tail of the ready list, so that they
-- take their turn behind ad-hoc runs (which are pushed there directly) instead of waiting for it to run dry.
-- KEYS[1..] queue_keys: for each queue in priority order, 4 keys: delayed (ZSET), ready (LIST),
-- running (HASH), leases (ZSET)
-- ARGV[1] now_ms
-- ARGV[2] lease_until_ms
-- ARGV[3] worker_id
-- ARGV[4] count: how many jobs at most (at most `batch`, so that no reply is unbounded)
-- ARGV[5] batch: how many due jobs one promotion moves at most
-- Returns {'claimed', job id, queue index from 1, job id, queue index, ...} | {'empty', earliest due ms of
-- the queues} | {'empty'} when every queue is empty
local wanted = tonumber(count)
local claimed = {'claimed'}
local taken = 0
local earliest = nil
for i = queue_keys, #KEYS, 4 do
  local delayed, ready, running, leases = KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3]
  promote_due(delayed, ready, now_ms, tonumber(batch))
  local jobs = redis.call('LPOP', ready, wanted - taken) or {}
  if #jobs > 0 then
    local owners, expiries = {}, {}
    for _, job in ipairs(jobs) do
      owners[#owners + 1], owners[#owners + 2] = job, worker_id
      expiries[#expiries + 1], expiries[#expiries + 2] = lease_until_ms, job
      claimed[#claimed + 1], claimed[#claimed + 2] = job, (i - queue_keys) / 4 + 1
    end
    redis.call('HSET', running, unpack(owners))
    redis.call('ZADD', leases, unpack(expiries))
    taken = taken + #jobs
    if taken >= wanted then
      return claimed
    end
  elseif taken == 0 then
    local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
    if first and (not earliest or tonumber(first) < earliest) then
      earliest = tonumber(first)
    end
  end
end
if taken > 0 then
  return claimed
end
if earliest then
  return {'empty', earliest}
end
return {'empty'}
