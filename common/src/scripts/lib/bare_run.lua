-- Shared step: what the job id of a bare run says (`BareRun` in Rust): an ad-hoc run that waits with no
-- record of its own, as its id carries the rest. The id is `sched-<run>-n0-rc0` with a version 8 UUID: its
-- due millisecond in the first 48 bits, and in bytes 10 to 13 its workflow's tag, which the shard's
-- `run-workflows` maps to the workflow. Answers the due ms and the tag, or nil for any other job id.
local bare_run_pattern = '^sched%-(' .. string.rep('%x', 8) .. ')%-(%x%x%x%x)%-8%x%x%x%-[89ab]%x%x%x%-('
  .. string.rep('%x', 8) .. ')%x%x%x%x%-n0%-rc0$'
local function bare_run(job_id)
  -- The version digit first: most jobs without a record are schedules' live jobs (version 7).
  if string.byte(job_id, 21) ~= 56 then
    return nil
  end
  local high, low, tag = string.match(job_id, bare_run_pattern)
  if not high then
    return nil
  end
  return tonumber(high .. low, 16), tag
end
