-- Marks a worker alive, describes it, and forgets workers silent for longer than the prune horizon.
-- KEYS[1] workers (ZSET), KEYS[2] worker (HASH)
-- ARGV[1] worker id, ARGV[2] now ms, ARGV[3] description lifetime ms, ARGV[4] prune workers last seen
-- before this ms, ARGV[5..] description name/value pairs
-- Returns 1
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
redis.call('HSET', KEYS[2], 'last_heartbeat_ms', ARGV[2], unpack(ARGV, 5, #ARGV))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
