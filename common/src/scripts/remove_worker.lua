-- Forgets a worker that stopped cleanly.
-- KEYS[1] workers: live workers by last heartbeat (ZSET)
-- KEYS[2] worker: the worker's description (HASH)
-- ARGV[1] worker_id
-- Returns 1
redis.call('ZREM', workers, worker_id)
redis.call('DEL', worker)
return 1
