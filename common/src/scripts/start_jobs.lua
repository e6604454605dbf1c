-- Starts jobs this worker claimed, in one call. For each: counts the delivery, names its execution
-- `execution_prefix` followed by the attempt, and marks it running in the job record (the running execution
-- is read from there; its JSON record is written once, by Rust, when it ends) and in the history indexes.
-- An ad-hoc run is a bare job: its hash holds its workflow, payload and timeout, and it has no schedule.
-- A job whose schedule was deleted meanwhile is dropped instead. Before that, the workflow's requirements
-- are checked, and a job that cannot start here goes back to its delayed set without counting a delivery:
-- to wait for a free slot (`max_concurrency`), or for a worker that offers a handler its workflow calls.
-- Each schedule is returned as it was before this start, so that Rust can judge overlap against the runs
-- already under way.
-- KEYS[1] workflow_requirements: workflow id -> {version, max_concurrency, handlers} (HASH)
-- KEYS[2] execution_index: every execution (ZSET)
-- KEYS[3..] job_keys: for each job, 6 keys: the job (HASH), its schedule (HASH), the schedule's execution
-- index (ZSET), the queue's running (HASH), leases (ZSET) and delayed (ZSET)
-- ARGV[1] worker_id
-- ARGV[2] now_ms
-- ARGV[3] now_at: RFC 3339
-- ARGV[4] lease_until_ms: the lease of a workflow slot a job takes
-- ARGV[5] handlers: the handlers this worker offers, as ',a,b,'
-- ARGV[6] slots_pattern: the workflow slots key with `<id>` for the workflow
-- ARGV[7] waiting_pattern: the workflow waiting key with `<id>`
-- ARGV[8] workflow_executions_pattern: the workflow execution index key with `<id>`
-- ARGV[9] wakeup_channel
-- ARGV[10] handler_retry_ms: how long a job lacking a handler waits before it is offered again
-- ARGV[11..] job_args: for each job, 4 values: job id, queue, '1' if it counts as a run under way (regular
-- and manual runs), its execution id prefix
-- Returns one answer per job, in order: {'started', execution id, {job fields...}, {schedule fields...}
-- (none for an ad-hoc run), 1 if it took a workflow slot or 0, the workflow's version or 0 when unknown} |
-- {'dropped'} |
-- {'lost'} the claim is no longer this worker's | {'missing_handler', handler} | {'waiting_for_slot'}
local now = tonumber(now_ms)

local function start(job, schedule, execution_times, running, leases, delayed, job_id, queue, counts_as_run,
                     execution_prefix)
  if redis.call('HGET', running, job_id) ~= worker_id then
    return {'lost'}
  end
  local job_fields = redis.call('HGETALL', job)
  local record = {}
  for i = 1, #job_fields, 2 do
    record[job_fields[i]] = job_fields[i + 1]
  end
  local is_run = record.schedule_id == nil and record.workflow_id ~= nil
  local fields = {}
  if not is_run then
    fields = redis.call('HGETALL', schedule)
  end
  if #job_fields == 0 or not is_run and #fields == 0 then
    redis.call('HDEL', running, job_id)
    redis.call('ZREM', leases, job_id)
    redis.call('DEL', job)
    return {'dropped'}
  end
  local workflow_id = record.workflow_id
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

  local slot, version = 0, 0
  local requirements = redis.call('HGET', workflow_requirements, workflow_id)
  if requirements then
    requirements = cjson.decode(requirements)
    version = requirements.version or 0
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

  local attempt = tonumber(record.attempt) + 1
  local execution_id = execution_prefix .. attempt
  redis.call('HSET', job, 'attempt', attempt, 'execution_id', execution_id, 'worker', worker_id,
    'workflow_id', workflow_id, 'started_at', now_at)
  if counts_as_run == '1' and not is_run then
    redis.call('HINCRBY', schedule, 'running_jobs', 1)
  end
  redis.call('ZADD', execution_times, now_ms, execution_id)
  redis.call('ZADD', execution_index, now_ms, execution_id)
  redis.call('ZADD', fill_key(workflow_executions_pattern, workflow_id), now_ms, execution_id)
  return {'started', execution_id, job_fields, fields, slot, version}
end

return each_item(job_keys, 6, job_args, 4, start)
