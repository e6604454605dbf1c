-- Shared step: move at most `limit` jobs that are due at `now_ms` from a delayed set to the tail of the
-- ready list, in due order. Bounded so that no call unpacks more than `limit` values.
local function promote_due(delayed_key, ready_key, now_ms, limit)
  local due = redis.call('ZRANGEBYSCORE', delayed_key, '-inf', now_ms, 'LIMIT', 0, limit)
  if #due > 0 then
    redis.call('ZREM', delayed_key, unpack(due))
    redis.call('RPUSH', ready_key, unpack(due))
  end
  return #due
end
