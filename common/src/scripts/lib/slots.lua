-- Shared steps for workflow concurrency slots. A script learns a workflow's id or a waiting job's queue only
-- inside Redis, so Rust passes the key's pattern (`Keys::pattern`) with `<id>` or `<queue>` and fill_key
-- puts the value in: the one place a key is completed inside Lua (see keys.rs).
local function fill_key(pattern, value)
  local open = string.find(pattern, '<', 1, true)
  local close = string.find(pattern, '>', open, true)
  return string.sub(pattern, 1, open - 1) .. value .. string.sub(pattern, close + 1)
end

-- Frees the slot `job_id` holds, if any, and makes the first job still waiting for one due now.
local function free_slot(slots_key, waiting_key, job_id, now_ms, delayed_pattern, channel)
  if redis.call('ZREM', slots_key, job_id) == 0 then
    return
  end
  -- Entries whose job is gone (deleted, or run meanwhile) are dropped; at most 10 per call.
  for _ = 1, 10 do
    local head = redis.call('ZPOPMIN', waiting_key)
    if #head == 0 then
      return
    end
    local slash = string.find(head[1], '/', 1, true)
    local delayed = fill_key(delayed_pattern, string.sub(head[1], 1, slash - 1))
    local waiting_job = string.sub(head[1], slash + 1)
    if redis.call('ZSCORE', delayed, waiting_job) then
      make_due(delayed, waiting_job, now_ms, channel)
      return
    end
  end
end
