-- Asks the worker running an execution to stop it: marks its job (read back at each lease renewal) and
-- announces it on the cancel channel (heard at once).
-- KEYS[1] job: the execution's job (HASH)
-- KEYS[2] executions: the schedule's executions (HASH)
-- ARGV[1] execution_id
-- ARGV[2] mode: 'cancel', or 'fail' to count it as a failure
-- ARGV[3] cancel_channel
-- Returns 'requested' | 'missing' no such execution | 'not_running' the execution is not running
local execution = redis.call('HGET', executions, execution_id)
if not execution then
  return 'missing'
end
if redis.call('HGET', job, 'execution_id') ~= execution_id or cjson.decode(execution).state ~= 'running' then
  return 'not_running'
end
redis.call('HSET', job, 'cancel', mode)
redis.call('PUBLISH', cancel_channel, execution_id .. ' ' .. mode)
return 'requested'
