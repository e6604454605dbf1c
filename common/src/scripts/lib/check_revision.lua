-- Shared step: whether a schedule may be written by a change planned from revision `expected`.
-- Returns 1 yes | 0 the schedule is gone | -2 it changed since it was read (the caller re-plans).
local function check_revision(key, expected)
  local rev = redis.call('HGET', key, 'rev')
  if not rev then
    return 0
  end
  if rev ~= expected then
    return -2
  end
  return 1
end
