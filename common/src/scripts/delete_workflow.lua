-- Deletes a workflow that no schedule uses, with its versions.
-- KEYS[1] workflow: the workflow (STRING)
-- KEYS[2] workflows: all workflows (ZSET)
-- KEYS[3] workflow_names: name -> id (HASH)
-- KEYS[4] workflow_uses: workflow id -> how many schedules use it (HASH)
-- KEYS[5] legacy_workflow_schedules: its index of schedules from before workflow_uses (ZSET)
-- KEYS[6] workflow_versions: its versions (HASH)
-- KEYS[7] workflow_requirements: workflow id -> what a run needs (HASH)
-- ARGV[1] workflow_id
-- Returns 'deleted' | 'missing' | 'in_use' schedules use it
local current = redis.call('GET', workflow)
if not current then
  return 'missing'
end
if in_use(workflow_uses, legacy_workflow_schedules, workflow_id) then
  return 'in_use'
end
redis.call('HDEL', workflow_names, cjson.decode(current).name)
redis.call('DEL', workflow, workflow_versions)
redis.call('HDEL', workflow_requirements, workflow_id)
redis.call('ZREM', workflows, workflow_id)
return 'deleted'
