-- Queues ad-hoc runs of one workflow, due now, if the workflow still exists: one call for a whole bulk
-- request (or one run). A run is a bare job, not a schedule: its hash holds what it needs to run (its queue
-- is the one it waits in, and no attempt is an attempt 0), and it goes straight to the tail of its queue's
-- ready list. Idle workers are woken once per call.
-- KEYS[1] workflow: the workflow (STRING)
-- KEYS[2] queues: every queue (SET)
-- KEYS[3..] run_keys: for each run, 2 keys: the job (HASH) and its queue's ready list (LIST)
-- ARGV[1] workflow_id
-- ARGV[2] now_ms
-- ARGV[3] wakeup_channel
-- ARGV[4..] run_args: for each run, 4 values: job id, queue, payload JSON or '' for none, timeout seconds
-- or '' for the default
-- Returns 'queued' | 'unknown_workflow' (nothing was queued)
if redis.call('EXISTS', workflow) == 0 then
  return 'unknown_workflow'
end
local last_queue
local function enqueue(job, ready, job_id, queue, payload, timeout_seconds)
  local fields = {'workflow_id', workflow_id, 'due_ms', now_ms}
  if payload ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'payload', payload
  end
  if timeout_seconds ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'timeout_seconds', timeout_seconds
  end
  redis.call('HSET', job, unpack(fields))
  redis.call('RPUSH', ready, job_id)
  if queue ~= last_queue then
    redis.call('SADD', queues, queue)
    last_queue = queue
  end
end
each_item(run_keys, 2, run_args, 4, enqueue)
redis.call('PUBLISH', wakeup_channel, now_ms)
return 'queued'
