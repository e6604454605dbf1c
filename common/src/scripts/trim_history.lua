-- Drops entries older than the retention age from the cross-schedule history indexes: the execution index,
-- the ad-hoc run index, and the execution indexes of a page of workflows. (Each schedule's own history is
-- trimmed by `finish_jobs`.)
-- KEYS[1..] indexes: each index to trim (ZSET)
-- ARGV[1] drop_before_ms: drop entries scored before this
-- Returns the number of entries dropped
local dropped = 0
for i = indexes, #KEYS do
  dropped = dropped + redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. drop_before_ms)
end
return dropped
