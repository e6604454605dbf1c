-- Extends the lease of a job this worker runs, and of the workflow slot it holds, if any, and tells the
-- worker when the user asked to cancel the run.
-- KEYS[1] running: the queue's claimed jobs (HASH)
-- KEYS[2] leases: the queue's leases (ZSET)
-- KEYS[3] workflow_slots: the workflow's slots (ZSET)
-- KEYS[4] job: the job (HASH)
-- ARGV[1] job_id
-- ARGV[2] worker_id
-- ARGV[3] lease_until_ms: the new lease expiry
-- ARGV[4] holds_slot: '1' if the job holds a workflow slot
-- Returns 'held' | 'cancel' held, cancel requested | 'cancel_as_failure' held, cancel requested counting as
-- a failure | 'lost' the job is no longer this worker's
if not held_by(running, leases, job_id, worker_id, '0') then
  return 'lost'
end
redis.call('ZADD', leases, 'XX', lease_until_ms, job_id)
if holds_slot == '1' then
  redis.call('ZADD', workflow_slots, 'XX', lease_until_ms, job_id)
end
local cancel = redis.call('HGET', job, 'cancel')
if cancel == 'cancel' then
  return 'cancel'
elseif cancel == 'fail' then
  return 'cancel_as_failure'
end
return 'held'
