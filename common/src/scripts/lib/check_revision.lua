-- Shared step: whether a schedule may be written by a change planned from revision `expected`.
-- Returns 'written' yes | 'missing' the schedule is gone | 'stale' it changed since it was read (re-plan).
local function check_revision(key, expected)
  local rev = redis.call('HGET', key, 'rev')
  if not rev then
    return 'missing'
  end
  if rev ~= expected then
    return 'stale'
  end
  return 'written'
end
