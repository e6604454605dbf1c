-- Queues ad-hoc runs of one workflow, each due now or at its own time, if the workflow still exists: one
-- call for a whole bulk request (or one run). A run is a job, not a schedule. A bare run (see bare_run.lua:
-- no payload, the default timeout) waits with nothing but its id in its queue, once its workflow's tag is
-- the workflow's in `run_workflows` (the first run of a workflow claims the tag; a run whose tag another
-- workflow holds gets a record); any other run has a hash that holds what it needs to run (no attempt is
-- an attempt 0). A run due now goes straight to the tail of its queue's ready list (idle workers are woken
-- once per call); a later one waits in the delayed set like any job.
-- KEYS[1] workflow: the workflow (STRING)
-- KEYS[2] queues: every queue (SET)
-- KEYS[3] run_workflows: workflow tag -> workflow id (HASH)
-- KEYS[4..] run_keys: for each run, 3 keys: the job (HASH), its queue's ready list (LIST) and delayed jobs
-- (ZSET)
-- ARGV[1] workflow_id
-- ARGV[2] now_ms
-- ARGV[3] wakeup_channel
-- ARGV[4] run_tag: the workflow's tag, as bare runs' ids carry it
-- ARGV[5..] run_args: for each run, 5 values: job id, queue, due ms, payload JSON or '' for none, timeout
-- seconds or '' for the default
-- Returns 'queued' | 'unknown_workflow' (nothing was queued)
if redis.call('EXISTS', workflow) == 0 then
  return 'unknown_workflow'
end
local last_queue
local any_ready = false
local tag_holder = nil
local function is_bare(job_id, payload, timeout_seconds)
  if payload ~= '' or timeout_seconds ~= '' or not bare_run(job_id) then
    return false
  end
  if tag_holder == nil then
    tag_holder = redis.call('HGET', run_workflows, run_tag)
    if not tag_holder then
      redis.call('HSET', run_workflows, run_tag, workflow_id)
      tag_holder = workflow_id
    end
  end
  return tag_holder == workflow_id
end
local function enqueue(first_key, job_id, queue, due_ms, payload, timeout_seconds)
  local job, ready, delayed = unpack(KEYS, first_key, first_key + 2)
  if not is_bare(job_id, payload, timeout_seconds) then
    local fields = {'workflow_id', workflow_id, 'queue', queue, 'due_ms', due_ms}
    if payload ~= '' then
      fields[#fields + 1], fields[#fields + 2] = 'payload', payload
    end
    if timeout_seconds ~= '' then
      fields[#fields + 1], fields[#fields + 2] = 'timeout_seconds', timeout_seconds
    end
    redis.call('HSET', job, unpack(fields))
  end
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
