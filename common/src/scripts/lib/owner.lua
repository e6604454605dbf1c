-- Shared step: whether `owner` still holds the claimed job `job_id`: the running hash names it and, when
-- `expired_before_ms` is not '0', its lease ended before then (so a lease renewed meanwhile wins).
local function held_by(running_key, leases_key, job_id, owner, expired_before_ms)
  if redis.call('HGET', running_key, job_id) ~= owner then
    return false
  end
  if expired_before_ms ~= '0' then
    local lease = redis.call('ZSCORE', leases_key, job_id)
    if lease and tonumber(lease) >= tonumber(expired_before_ms) then
      return false
    end
  end
  return true
end
