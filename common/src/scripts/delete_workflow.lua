-- Deletes a workflow that no schedule uses, with its versions.
-- KEYS[1] workflow (STRING), KEYS[2] workflows (ZSET), KEYS[3] workflow-names (HASH),
-- KEYS[4] the workflow's schedules (ZSET), KEYS[5] the workflow's versions (HASH),
-- KEYS[6] workflow-requirements (HASH)
-- ARGV[1] workflow id
-- Returns 1 deleted | 0 no such workflow | -1 schedules use it
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
if redis.call('ZCARD', KEYS[4]) > 0 then
  return -1
end
redis.call('HDEL', KEYS[3], cjson.decode(current).name)
redis.call('DEL', KEYS[1], KEYS[5])
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
