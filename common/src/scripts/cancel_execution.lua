-- Asks the worker running an execution to stop it: marks its job (read back at each lease renewal) and
-- announces it on the cancel channel (heard at once).
-- KEYS[1] job: the execution's job (HASH)
-- KEYS[2] executions: the schedule's executions (HASH)
-- KEYS[3] run_executions: the ad-hoc runs' executions (HASH), should it be a run
-- ARGV[1] execution_id
-- ARGV[2] mode: 'cancel', or 'fail' to count it as a failure
-- ARGV[3] cancel_channel
-- Returns 'requested' | 'missing' no such execution | 'not_running' the execution is not running
-- An execution runs while its job names it and it has no record yet (the record is written when it ends).
if redis.call('HEXISTS', executions, execution_id) + redis.call('HEXISTS', run_executions, execution_id) > 0 then
  return 'not_running'
end
if redis.call('HGET', job, 'execution_id') ~= execution_id then
  return 'missing'
end
redis.call('HSET', job, 'cancel', mode)
redis.call('PUBLISH', cancel_channel, execution_id .. ' ' .. mode)
return 'requested'
