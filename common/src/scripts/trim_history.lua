-- Drops entries older than the retention age from the cross-schedule history indexes: the execution index,
-- the ad-hoc run index, and the execution indexes of a page of workflows. (Each schedule's own history is
-- trimmed by `finish_job`.)
-- KEYS[1] execution index (ZSET), KEYS[2] runs (ZSET), KEYS[3..] workflow execution indexes (ZSET)
-- ARGV[1] drop entries scored before this ms
-- Returns the number of entries dropped
local dropped = 0
for i = 1, #KEYS do
  dropped = dropped + redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[1])
end
return dropped
