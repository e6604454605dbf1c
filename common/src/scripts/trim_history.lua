-- Drops entries older than the retention age from workflows' execution indexes, a page of workflows per
-- call. (The execution index is trimmed by `trim_execution_index`, each schedule's own history by
-- `finish_jobs`.)
-- KEYS[1..] indexes: each index to trim (ZSET)
-- ARGV[1] drop_before_ms: drop entries scored before this
-- Returns the number of entries dropped
local dropped = 0
for i = indexes, #KEYS do
  dropped = dropped + redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. drop_before_ms)
end
return dropped
