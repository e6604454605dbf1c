-- Takes a workflow's copy away from one shard of a sharded deployment, unless schedules of the shard use it:
-- the first step of deleting a workflow, run shard by shard. Once retired, the shard takes no new schedule
-- or run of it.
-- KEYS[1] workflow: the shard's copy of the workflow (STRING)
-- KEYS[2] workflow_requirements: the shard's copy, workflow id -> what a run needs (HASH)
-- KEYS[3] workflow_uses: workflow id -> how many of the shard's schedules use it (HASH)
-- KEYS[4] legacy_workflow_schedules: the shard's index of its schedules from before workflow_uses (ZSET)
-- ARGV[1] workflow_id
-- Returns 'retired' | 'in_use'
if in_use(workflow_uses, legacy_workflow_schedules, workflow_id) then
  return 'in_use'
end
redis.call('DEL', workflow)
redis.call('HDEL', workflow_requirements, workflow_id)
return 'retired'
