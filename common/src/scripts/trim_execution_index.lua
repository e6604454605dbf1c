-- Drops the entries of a shard's execution index older than the retention age, a batch per call, and with
-- them the ad-hoc runs' records they name (a run keeps no index of its own; ids of schedules' executions
-- are not in that hash, and their records are trimmed by `finish_jobs`).
-- KEYS[1] execution_index: every execution (ZSET)
-- KEYS[2] run_executions: the ad-hoc runs' executions (HASH)
-- ARGV[1] drop_before_ms: drop entries scored before this
-- ARGV[2] batch: entries dropped at most
-- Returns the number of entries dropped: `batch` when more may be left
local aged = redis.call('ZRANGEBYSCORE', execution_index, '-inf', '(' .. drop_before_ms, 'LIMIT', 0, batch)
if #aged > 0 then
  redis.call('HDEL', run_executions, unpack(aged))
  redis.call('ZREM', execution_index, unpack(aged))
end
return #aged
