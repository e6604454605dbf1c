-- Replaces a workflow, keeping its name unique when the name changes.
-- KEYS[1] workflow (STRING), KEYS[2] workflow-names (HASH)
-- ARGV[1] workflow id, ARGV[2] new name, ARGV[3] workflow JSON
-- Returns 1 updated | 0 no such workflow | -1 the new name is taken
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
local old_name = cjson.decode(current).name
if old_name ~= ARGV[2] then
  if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then
    return -1
  end
  redis.call('HDEL', KEYS[2], old_name)
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
