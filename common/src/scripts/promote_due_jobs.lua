-- Moves one bounded batch of due jobs of a queue to its ready list (the reconciler's pass; claims promote
-- lazily on their own).
-- KEYS[1] delayed (ZSET), KEYS[2] ready (LIST)
-- ARGV[1] now ms, ARGV[2] batch size
-- Returns the number of jobs moved
return promote_due(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]))
