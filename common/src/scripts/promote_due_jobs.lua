-- Moves one bounded batch of due jobs of a queue to its ready list (the reconciler's pass; claims promote
-- lazily on their own).
-- KEYS[1] delayed: the queue's delayed jobs (ZSET)
-- KEYS[2] ready: its ready list (LIST)
-- ARGV[1] now_ms
-- ARGV[2] batch: how many jobs to move at most
-- Returns the number of jobs moved
return promote_due(delayed, ready, now_ms, tonumber(batch))
