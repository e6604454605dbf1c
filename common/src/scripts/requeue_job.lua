-- Hands a claimed job back to the front of its ready list, after its lease expired or when its worker shuts
-- down before finishing it, and wakes idle workers to take it. The abandoned attempt's execution is closed
-- as failed; the schedule's counters do not move.
-- KEYS[1] job: the job (HASH)
-- KEYS[2] running: the queue's claimed jobs (HASH)
-- KEYS[3] leases: the queue's leases (ZSET)
-- KEYS[4] ready: the queue's ready list (LIST)
-- KEYS[5] executions: the schedule's executions (HASH)
-- KEYS[6] schedule: the schedule (HASH)
-- KEYS[7] delayed: the queue's delayed jobs (ZSET)
-- KEYS[8] run_executions: the ad-hoc runs' executions (HASH), where a run's closed attempt goes
-- ARGV[1] job_id
-- ARGV[2] owner: the worker holding it
-- ARGV[3] expired_before_ms: its lease must have ended before this, or '0'
-- ARGV[4] execution_id: the abandoned execution, or '' when there is none to close
-- ARGV[5] execution_json: that execution, closed
-- ARGV[6] now_ms
-- ARGV[7] wakeup_channel
-- ARGV[8] counts_as_run: '1' if the job counts as a run under way (regular and manual runs)
-- Returns 'requeued' | 'dropped' the job record is gone | 'lost' not this owner's job or lease renewed
if not held_by(running, leases, job_id, owner, expired_before_ms) then
  return 'lost'
end
redis.call('HDEL', running, job_id)
redis.call('ZREM', leases, job_id)
if redis.call('EXISTS', job) == 0 then
  return 'dropped'
end
local started, schedule_id = unpack(redis.call('HMGET', job, 'execution_id', 'schedule_id'))
if execution_id ~= '' and started == execution_id then
  -- A started job without a schedule is an ad-hoc run.
  redis.call('HSET', schedule_id and executions or run_executions, execution_id, execution_json)
end
-- A started run counted as under way; it is not any more until it starts again.
if started and counts_as_run == '1' and redis.call('EXISTS', schedule) == 1 then
  end_run(schedule, delayed, now_ms, wakeup_channel)
end
redis.call('HDEL', job, 'worker')
-- A delivery lost with its worker counts towards failing the job; a graceful hand-back does not.
if expired_before_ms ~= '0' then
  redis.call('HINCRBY', job, 'lost', 1)
end
redis.call('LPUSH', ready, job_id)
redis.call('PUBLISH', wakeup_channel, now_ms)
return 'requeued'
