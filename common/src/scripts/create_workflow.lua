-- Saves a new workflow under a unique name.
-- KEYS[1] workflow (STRING), KEYS[2] workflows (ZSET), KEYS[3] workflow-names (HASH)
-- ARGV[1] workflow id, ARGV[2] name, ARGV[3] workflow JSON, ARGV[4] creation ms
-- Returns 1 created | 0 the name is taken
if redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
