-- Gives one shard of a sharded deployment its copy of a workflow and of what a run of it needs, so that the
-- shard's scripts take schedules and runs of it and claims check its requirements (a script cannot read
-- another shard's keys). Run for every shard after each save of the workflow.
-- KEYS[1] workflow: the shard's copy of the workflow (STRING)
-- KEYS[2] workflow_requirements: the shard's copy, workflow id -> what a run needs (HASH)
-- ARGV[1] workflow_id
-- ARGV[2] workflow_json
-- ARGV[3] requirements_json
-- Returns 1
redis.call('SET', workflow, workflow_json)
redis.call('HSET', workflow_requirements, workflow_id, requirements_json)
return 1
