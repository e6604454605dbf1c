-- Records the shard count a deployment is created with, once, and answers the one it has: processes started
-- with another `RECUR_SHARDS` must not run on it (they would read and write other keys). A deployment that
-- holds workflows but no recorded count was created before the count was recorded, with one shard.
-- KEYS[1] layout: the shard count (STRING)
-- KEYS[2] workflows: all workflows (ZSET)
-- ARGV[1] shards: the configured shard count
-- Returns the deployment's shard count
local stored = redis.call('GET', layout)
if stored then
  return tonumber(stored)
end
if shards ~= '1' and redis.call('EXISTS', workflows) == 1 then
  return 1
end
redis.call('SET', layout, shards)
return tonumber(shards)
