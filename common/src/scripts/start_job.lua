-- Starts a job this worker claimed: counts the delivery, names its execution `execution_prefix` followed by
-- the attempt, and marks it running in the job record (the running execution is read from there; its JSON
-- record is written once, by Rust, when it ends) and in the history indexes. A job whose schedule was
-- deleted meanwhile is dropped instead.
-- Before that, the workflow's requirements are checked, and a job that cannot start here goes back to its
-- delayed set without counting a delivery: to wait for a free slot (`max_concurrency`), or for a worker
-- that offers a handler its workflow calls. The schedule is returned as it was before this start, so that
-- Rust can judge overlap against the runs already under way.
-- KEYS[1] job: the job (HASH)
-- KEYS[2] schedule: its schedule (HASH)
-- KEYS[3] running: the queue's claimed jobs (HASH)
-- KEYS[4] leases: the queue's leases (ZSET)
-- KEYS[5] execution_times: the schedule's execution index (ZSET)
-- KEYS[6] workflow_requirements: workflow id -> requirements JSON (HASH)
-- KEYS[7] delayed: the queue's delayed jobs (ZSET)
-- KEYS[8] execution_index: every execution (ZSET)
-- ARGV[1] job_id
-- ARGV[2] worker_id
-- ARGV[3] now_ms
-- ARGV[4] now_at: RFC 3339
-- ARGV[5] counts_as_run: '1' if the job counts as a run under way (regular and manual runs)
-- ARGV[6] lease_until_ms: the lease of a workflow slot it takes
-- ARGV[7] handlers: the handlers this worker offers, as ',a,b,'
-- ARGV[8] slots_pattern: the workflow slots key with `<id>` for the workflow
-- ARGV[9] waiting_pattern: the workflow waiting key with `<id>`
-- ARGV[10] queue
-- ARGV[11] wakeup_channel
-- ARGV[12] handler_retry_ms: how long a job lacking a handler waits before it is offered again
-- ARGV[13] workflow_executions_pattern: the workflow execution index key with `<id>`
-- ARGV[14] execution_prefix: what the job's execution ids start with
-- Returns {'started', attempt, execution id, due RFC 3339, {schedule fields...}, 1 if it took a workflow
-- slot or 0} | {'dropped'} | {'lost'} the claim is no longer this worker's | {'missing_handler', handler} |
-- {'waiting_for_slot'}
local now = tonumber(now_ms)
if redis.call('HGET', running, job_id) ~= worker_id then
  return {'lost'}
end
local record = redis.call('HMGET', job, 'schedule_id', 'due_at', 'attempt')
local fields = redis.call('HGETALL', schedule)
if not record[1] or #fields == 0 then
  redis.call('HDEL', running, job_id)
  redis.call('ZREM', leases, job_id)
  redis.call('DEL', job)
  return {'dropped'}
end
local workflow_id
for i = 1, #fields, 2 do
  if fields[i] == 'workflow_id' then
    workflow_id = fields[i + 1]
  end
end

local function put_back(due_ms)
  redis.call('HDEL', running, job_id)
  redis.call('ZREM', leases, job_id)
  make_due(delayed, job_id, due_ms, wakeup_channel)
end

local slot = 0
local requirements = redis.call('HGET', workflow_requirements, workflow_id)
if requirements then
  requirements = cjson.decode(requirements)
  for _, handler in ipairs(requirements.handlers or {}) do
    if not string.find(handlers, ',' .. handler .. ',', 1, true) then
      put_back(now + tonumber(handler_retry_ms))
      return {'missing_handler', handler}
    end
  end
  if requirements.max_concurrency then
    local slots = fill_key(slots_pattern, workflow_id)
    local waiting = fill_key(waiting_pattern, workflow_id)
    -- Slots whose lease passed belong to crashed workers.
    redis.call('ZREMRANGEBYSCORE', slots, '-inf', '(' .. now)
    if not redis.call('ZSCORE', slots, job_id) and redis.call('ZCARD', slots) >= requirements.max_concurrency then
      -- Wait until the earliest lease could end; a slot freed sooner makes the first waiting job due at once.
      put_back(tonumber(redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')[2]))
      redis.call('ZADD', waiting, 'NX', now, queue .. '/' .. job_id)
      return {'waiting_for_slot'}
    end
    redis.call('ZADD', slots, lease_until_ms, job_id)
    redis.call('ZREM', waiting, queue .. '/' .. job_id)
    slot = 1
  end
end

local attempt = tonumber(record[3]) + 1
local execution_id = execution_prefix .. attempt
redis.call('HSET', job, 'attempt', attempt, 'execution_id', execution_id, 'worker', worker_id,
  'workflow_id', workflow_id, 'started_at', now_at)
if counts_as_run == '1' then
  redis.call('HINCRBY', schedule, 'running_jobs', 1)
end
redis.call('ZADD', execution_times, now_ms, execution_id)
redis.call('ZADD', execution_index, now_ms, execution_id)
redis.call('ZADD', fill_key(workflow_executions_pattern, workflow_id), now_ms, execution_id)
return {'started', attempt, execution_id, record[2], fields, slot}
