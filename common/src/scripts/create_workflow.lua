-- Saves a new workflow under a unique name, as its version 1.
-- KEYS[1] workflow (STRING), KEYS[2] workflows (ZSET), KEYS[3] workflow-names (HASH), KEYS[4] the
-- workflow's versions (HASH), KEYS[5] workflow-requirements (HASH)
-- ARGV[1] workflow id, ARGV[2] name, ARGV[3] workflow JSON, ARGV[4] creation ms, ARGV[5] requirements JSON
-- or '' for none
-- Returns 1 created | 0 the name is taken
if redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[4], 1, ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
end
return 1
