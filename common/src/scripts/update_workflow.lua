-- Stores a new version of a workflow, keeping its name unique when the name changes. Runs under way keep
-- the version they loaded; the ones that start after this run the new one.
-- KEYS[1] workflow: the workflow (STRING)
-- KEYS[2] workflow_names: name -> id (HASH)
-- KEYS[3] workflow_versions: the workflow's versions (HASH)
-- KEYS[4] workflow_requirements: workflow id -> what a run needs (HASH)
-- ARGV[1] workflow_id
-- ARGV[2] name: the new name
-- ARGV[3] workflow_json
-- ARGV[4] replaced_version: the version this edit was made from
-- ARGV[5] version: the new version
-- ARGV[6] requirements_json: what a run needs: the version to load, slots, handlers
-- Returns 'updated' | 'missing' | 'name_taken' | 'stale' another edit landed first
local current = redis.call('GET', workflow)
if not current then
  return 'missing'
end
current = cjson.decode(current)
if tostring(current.version or 1) ~= replaced_version then
  return 'stale'
end
if current.name ~= name then
  if redis.call('HSETNX', workflow_names, name, workflow_id) == 0 then
    return 'name_taken'
  end
  redis.call('HDEL', workflow_names, current.name)
end
redis.call('SET', workflow, workflow_json)
redis.call('HSET', workflow_versions, version, workflow_json)
redis.call('HSET', workflow_requirements, workflow_id, requirements_json)
return 'updated'
