-- Starts a job this worker claimed: counts the delivery, names its execution `{job id}-a{attempt}` and
-- records it as running. A job whose schedule was deleted meanwhile is dropped instead. Before that, the
-- workflow's requirements are checked, and a job that cannot start here goes back to its delayed set without
-- counting a delivery: to wait for a free slot (`max_concurrency`), or for a worker that offers a handler its
-- workflow calls. The schedule is returned as it was before this start, so that Rust can judge overlap
-- against the runs already under way.
-- KEYS[1] job (HASH), KEYS[2] schedule (HASH), KEYS[3] running (HASH), KEYS[4] leases (ZSET),
-- KEYS[5] executions (HASH), KEYS[6] execution-times (ZSET), KEYS[7] workflow-requirements (HASH),
-- KEYS[8] the queue's delayed (ZSET), KEYS[9] execution index (ZSET)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] now ms, ARGV[4] now RFC 3339, ARGV[5] '1' if the job counts
-- as a run under way (regular and manual runs), ARGV[6] lease expiry ms, ARGV[7] handlers this worker
-- offers as ',a,b,', ARGV[8] workflow slots pattern, ARGV[9] workflow waiting pattern, ARGV[10] queue name,
-- ARGV[11] wakeup channel, ARGV[12] ms before a job lacking a handler is offered again, ARGV[13] workflow
-- execution index pattern
-- Returns {1, attempt, execution id, due RFC 3339, {schedule fields...}, 1 if it took a workflow slot} |
-- {0} dropped |
-- {-1} the claim is no longer this worker's | {-4, handler} this worker lacks the handler | {-5} no free slot
local job_id, worker, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', KEYS[3], job_id) ~= worker then
  return {-1}
end
local job = redis.call('HMGET', KEYS[1], 'schedule_id', 'due_at', 'attempt')
local schedule = redis.call('HGETALL', KEYS[2])
if not job[1] or #schedule == 0 then
  redis.call('HDEL', KEYS[3], job_id)
  redis.call('ZREM', KEYS[4], job_id)
  redis.call('DEL', KEYS[1])
  return {0}
end
local workflow_id
for i = 1, #schedule, 2 do
  if schedule[i] == 'workflow_id' then
    workflow_id = schedule[i + 1]
  end
end

local function put_back(due_ms)
  redis.call('HDEL', KEYS[3], job_id)
  redis.call('ZREM', KEYS[4], job_id)
  make_due(KEYS[8], job_id, due_ms, ARGV[11])
end

local slot = 0
local requirements = redis.call('HGET', KEYS[7], workflow_id)
if requirements then
  requirements = cjson.decode(requirements)
  for _, handler in ipairs(requirements.handlers or {}) do
    if not string.find(ARGV[7], ',' .. handler .. ',', 1, true) then
      put_back(now + tonumber(ARGV[12]))
      return {-4, handler}
    end
  end
  if requirements.max_concurrency then
    local slots = fill_key(ARGV[8], workflow_id)
    local waiting = fill_key(ARGV[9], workflow_id)
    -- Slots whose lease passed belong to crashed workers.
    redis.call('ZREMRANGEBYSCORE', slots, '-inf', '(' .. now)
    if not redis.call('ZSCORE', slots, job_id) and redis.call('ZCARD', slots) >= requirements.max_concurrency then
      -- Wait until the earliest lease could end; a slot freed sooner makes the first waiting job due at once.
      put_back(tonumber(redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')[2]))
      redis.call('ZADD', waiting, 'NX', now, ARGV[10] .. '/' .. job_id)
      return {-5}
    end
    redis.call('ZADD', slots, ARGV[6], job_id)
    redis.call('ZREM', waiting, ARGV[10] .. '/' .. job_id)
    slot = 1
  end
end

local attempt = tonumber(job[3]) + 1
local execution_id = job_id .. '-a' .. attempt
redis.call('HSET', KEYS[1], 'attempt', attempt, 'execution_id', execution_id, 'worker', worker)
if ARGV[5] == '1' then
  redis.call('HINCRBY', KEYS[2], 'running_jobs', 1)
end
redis.call('HSET', KEYS[5], execution_id, cjson.encode({
  id = execution_id, job_id = job_id, schedule_id = job[1], workflow_id = workflow_id,
  attempt = attempt, state = 'running', scheduled_for = job[2], started_at = ARGV[4], worker_id = worker,
}))
redis.call('ZADD', KEYS[6], ARGV[3], execution_id)
redis.call('ZADD', KEYS[9], ARGV[3], execution_id)
redis.call('ZADD', fill_key(ARGV[13], workflow_id), ARGV[3], execution_id)
return {1, attempt, execution_id, job[2], schedule, slot}
