-- Queues ad-hoc runs of one workflow, each due now or at its own time, if the workflow still exists: one
-- call for a whole bulk request (or one run). A run is a bare job, not a schedule: its hash holds what it
-- needs to run (no attempt is an attempt 0). A run due now goes straight to the tail of its queue's ready
-- list (idle workers are woken once per call); a later one waits in the delayed set like any job.
-- KEYS[1] workflow: the workflow (STRING)
-- KEYS[2] queues: every queue (SET)
-- KEYS[3..] run_keys: for each run, 3 keys: the job (HASH), its queue's ready list (LIST) and delayed jobs
-- (ZSET)
-- ARGV[1] workflow_id
-- ARGV[2] now_ms
-- ARGV[3] wakeup_channel
-- ARGV[4..] run_args: for each run, 5 values: job id, queue, due ms, payload JSON or '' for none, timeout
-- seconds or '' for the default
-- Returns 'queued' | 'unknown_workflow' (nothing was queued)
if redis.call('EXISTS', workflow) == 0 then
  return 'unknown_workflow'
end
local last_queue
local any_ready = false
local function enqueue(first_key, job_id, queue, due_ms, payload, timeout_seconds)
  local job, ready, delayed = unpack(KEYS, first_key, first_key + 2)
  local fields = {'workflow_id', workflow_id, 'queue', queue, 'due_ms', due_ms}
  if payload ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'payload', payload
  end
  if timeout_seconds ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'timeout_seconds', timeout_seconds
  end
  redis.call('HSET', job, unpack(fields))
  if tonumber(due_ms) <= tonumber(now_ms) then
    redis.call('RPUSH', ready, job_id)
    any_ready = true
  else
    make_due(delayed, job_id, due_ms, wakeup_channel)
  end
  if queue ~= last_queue then
    redis.call('SADD', queues, queue)
    last_queue = queue
  end
end
each_item(run_keys, 3, run_args, 5, enqueue)
if any_ready then
  redis.call('PUBLISH', wakeup_channel, now_ms)
end
return 'queued'
