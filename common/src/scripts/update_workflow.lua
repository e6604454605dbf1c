-- Stores a new version of a workflow, keeping its name unique when the name changes. Runs under way keep
-- the version they loaded; the ones that start after this run the new one.
-- KEYS[1] workflow (STRING), KEYS[2] workflow-names (HASH), KEYS[3] the workflow's versions (HASH),
-- KEYS[4] workflow-requirements (HASH)
-- ARGV[1] workflow id, ARGV[2] new name, ARGV[3] workflow JSON, ARGV[4] the version it replaces,
-- ARGV[5] new version, ARGV[6] requirements JSON or '' for none
-- Returns 1 updated | 0 no such workflow | -1 the new name is taken | -2 another edit landed first
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
current = cjson.decode(current)
if tostring(current.version or 1) ~= ARGV[4] then
  return -2
end
if current.name ~= ARGV[2] then
  if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then
    return -1
  end
  redis.call('HDEL', KEYS[2], current.name)
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[5], ARGV[3])
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[4], ARGV[1])
else
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[6])
end
return 1
