-- Forgets a worker that stopped cleanly.
-- KEYS[1] workers (ZSET), KEYS[2] worker (HASH)
-- ARGV[1] worker id
-- Returns 1
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
