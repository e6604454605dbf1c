-- Saves a new workflow under a unique name, as its version 1.
-- KEYS[1] workflow: the workflow (STRING)
-- KEYS[2] workflows: all workflows (ZSET)
-- KEYS[3] workflow_names: name -> id (HASH)
-- KEYS[4] workflow_versions: the workflow's versions (HASH)
-- KEYS[5] workflow_requirements: workflow id -> what a run needs (HASH)
-- ARGV[1] workflow_id
-- ARGV[2] name
-- ARGV[3] workflow_json
-- ARGV[4] created_ms
-- ARGV[5] requirements_json: what a run needs: the version to load, slots, handlers
-- Returns 'created' | 'name_taken'
if redis.call('HSETNX', workflow_names, name, workflow_id) == 0 then
  return 'name_taken'
end
redis.call('SET', workflow, workflow_json)
redis.call('HSET', workflow_versions, 1, workflow_json)
redis.call('ZADD', workflows, created_ms, workflow_id)
redis.call('HSET', workflow_requirements, workflow_id, requirements_json)
return 'created'
