-- Starts a job this worker claimed: counts the delivery, names its execution `{job id}-a{attempt}` and
-- records it as running. A job whose schedule was deleted meanwhile is dropped instead. The schedule is
-- returned as it was before this start, so that Rust can judge overlap against the runs already under way.
-- KEYS[1] job (HASH), KEYS[2] schedule (HASH), KEYS[3] running (HASH), KEYS[4] leases (ZSET),
-- KEYS[5] executions (HASH), KEYS[6] execution-times (ZSET)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] now ms, ARGV[4] now RFC 3339, ARGV[5] '1' if the job counts
-- as a run under way (regular and manual runs)
-- Returns {1, attempt, execution id, due RFC 3339, {schedule fields...}} | {0} dropped |
-- {-1} the claim is no longer this worker's
local job_id, worker = ARGV[1], ARGV[2]
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
local attempt = tonumber(job[3]) + 1
local execution_id = job_id .. '-a' .. attempt
redis.call('HSET', KEYS[1], 'attempt', attempt, 'execution_id', execution_id, 'worker', worker)
if ARGV[5] == '1' then
  redis.call('HINCRBY', KEYS[2], 'running_jobs', 1)
end
local workflow_id
for i = 1, #schedule, 2 do
  if schedule[i] == 'workflow_id' then
    workflow_id = schedule[i + 1]
  end
end
redis.call('HSET', KEYS[5], execution_id, cjson.encode({
  id = execution_id, job_id = job_id, schedule_id = job[1], workflow_id = workflow_id,
  attempt = attempt, state = 'running', scheduled_for = job[2], started_at = ARGV[4], worker_id = worker,
}))
redis.call('ZADD', KEYS[6], ARGV[3], execution_id)
return {1, attempt, execution_id, job[2], schedule}
