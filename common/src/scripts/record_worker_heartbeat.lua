-- Marks a worker alive, describes it, and forgets workers silent for longer than the prune horizon.
-- KEYS[1] workers: live workers by last heartbeat (ZSET)
-- KEYS[2] worker: the worker's description (HASH)
-- ARGV[1] worker_id
-- ARGV[2] now_ms
-- ARGV[3] lifetime_ms: how long the description lives without a heartbeat
-- ARGV[4] prune_before_ms: forget workers last seen before this
-- ARGV[5..] description: name/value pairs
-- Returns Redis's clock in ms, so that the worker can tell how far its own clock is off
redis.call('ZADD', workers, now_ms, worker_id)
redis.call('ZREMRANGEBYSCORE', workers, '-inf', '(' .. prune_before_ms)
redis.call('HSET', worker, 'last_heartbeat_ms', now_ms, unpack(ARGV, description, #ARGV))
redis.call('PEXPIRE', worker, lifetime_ms)
local time = redis.call('TIME')
return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
