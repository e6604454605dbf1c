-- Shared steps: how many of a shard's schedules use each workflow (`uses`, HASH workflow id -> count, no
-- field when none), which deleting a workflow checks. A schedule created before the count existed is a
-- member of its workflow's old index (`legacy`, no longer written) instead: it counts there until it
-- leaves, when it is deleted or moves to another workflow.
local function add_use(uses, workflow_id)
  redis.call('HINCRBY', uses, workflow_id, 1)
end

local function remove_use(uses, legacy, workflow_id, schedule_id)
  if redis.call('ZREM', legacy, schedule_id) == 0 and redis.call('HINCRBY', uses, workflow_id, -1) <= 0 then
    redis.call('HDEL', uses, workflow_id)
  end
end

local function in_use(uses, legacy, workflow_id)
  return redis.call('HEXISTS', uses, workflow_id) == 1 or redis.call('EXISTS', legacy) == 1
end
