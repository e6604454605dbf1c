-- Asks the worker running an execution to stop it: marks its job (read back at each lease renewal) and
-- announces it on the cancel channel (heard at once).
-- KEYS[1] job (HASH), KEYS[2] the schedule's executions (HASH)
-- ARGV[1] execution id, ARGV[2] 'cancel' or 'fail' (count it as a failure), ARGV[3] cancel channel
-- Returns 1 requested | 0 no such execution | -1 the execution is not running
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then
  return 0
end
if redis.call('HGET', KEYS[1], 'execution_id') ~= ARGV[1] or cjson.decode(record).state ~= 'running' then
  return -1
end
redis.call('HSET', KEYS[1], 'cancel', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' ' .. ARGV[2])
return 1
