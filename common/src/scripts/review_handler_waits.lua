-- Looks over the jobs waiting for a worker that offers a handler (oldest first, a bounded batch): drops the
-- entries of jobs that no longer wait (they started, or are gone), and marks those waiting since before
-- `alert_before_ms` as alerted, returning them, so that each long wait raises one alert across all workers.
-- KEYS[1] handler_waits: `<queue>/<job id>` by since when it waits (ZSET)
-- ARGV[1] job_pattern: the job key with `<job>` for the job id
-- ARGV[2] alert_before_ms: waits that began before this are overdue
-- ARGV[3] batch: how many entries to look at
-- Returns {member, handler, since ms} of each wait that became overdue now
local entries = redis.call('ZRANGE', handler_waits, 0, tonumber(batch) - 1, 'WITHSCORES')
local overdue = {}
for i = 1, #entries, 2 do
  local member, since = entries[i], entries[i + 1]
  local slash = string.find(member, '/', 1, true)
  local job = fill_key(job_pattern, string.sub(member, slash + 1))
  local marks = redis.call('HMGET', job, 'waiting_for_handler', 'handler_alerted')
  if not marks[1] then
    redis.call('ZREM', handler_waits, member)
  elseif tonumber(since) < tonumber(alert_before_ms) and not marks[2] then
    redis.call('HSET', job, 'handler_alerted', '1')
    overdue[#overdue + 1] = {member, marks[1], since}
  end
end
return overdue
