-- Claims and starts up to `count` due jobs for one worker, from its queues in priority order, in one call.
-- Each call first promotes a bounded batch of due jobs to the tail of the ready list, so that they take their
-- turn behind ad-hoc runs (which are pushed there directly) instead of waiting for it to run dry.
-- For each job popped: the workflow's requirements are checked first, and a job that cannot start here goes
-- back to its delayed set without counting a delivery: to wait for a free slot (`max_concurrency`), or for
-- a worker that offers a handler its workflow calls. A job waiting for a handler is marked so in its record
-- (`waiting_for_handler`) and listed in handler_waits from the first time, so operators see it; the marks
-- go once it starts. A job whose record or schedule is gone is dropped.
-- A schedule's live job waits without a record of its own (see enqueue.lua): its id names the schedule,
-- whose record names it as its live job (`lib/live_job.lua`) and says when it was due (`next_run_at`). Its
-- record is written when it starts, from there; a job without one that its schedule no longer names is
-- dropped.
-- Otherwise the job is leased to the worker, its delivery counted, and its execution (`execution_separator`
-- and the attempt after the job id) marked running in the job's record (its JSON record is written once, by
-- Rust, when it ends) and in the history indexes (one ZADD per index and call). An ad-hoc run is a bare job:
-- its hash names its workflow, and it has no schedule and no schedule history; a bare run has no hash until
-- it starts (see bare_run.lua), and its record is written then, from its id and `run_workflows`. Each
-- schedule is returned as it was before this start, so that Rust can judge overlap against the runs already
-- under way.
-- The keys of a popped job's record, schedule and history are filled in from patterns (`fill_key`): they are
-- known only once the job is popped.
-- A worker's finishes of this shard ride along: they are recorded first, each as `finish_jobs` and
-- `finish_runs` record it (the same shared steps), so that a busy worker spends one call per batch on both.
-- KEYS[1] workflow_requirements: workflow id -> {version, max_concurrency, handlers} (HASH)
-- KEYS[2] execution_index: every execution (ZSET)
-- KEYS[3] handler_waits: `<queue>/<job id>` of jobs waiting for a worker offering a handler, by since when
-- KEYS[4] run_workflows: workflow tag -> workflow id, for bare runs (HASH)
-- KEYS[5] run_executions: the ad-hoc runs' executions (HASH)
-- KEYS[6..] queue_and_finish_keys: for each queue in priority order, 4 keys: delayed (ZSET), ready (LIST),
-- running (HASH), leases (ZSET); then the 16 keys of each schedule's job ending (see finish_jobs.lua), then the
-- 8 keys of each run ending (see finish_runs.lua)
-- ARGV[1] now_ms
-- ARGV[2] now_at: RFC 3339
-- ARGV[3] lease_until_ms
-- ARGV[4] worker_id
-- ARGV[5] count: how many jobs at most (at most `batch`, so that no reply is unbounded)
-- ARGV[6] batch: how many due jobs one promotion moves at most
-- ARGV[7] handlers: the handlers this worker offers, as ',a,b,'
-- ARGV[8] job_pattern: the job key with `<job>` for the job id
-- ARGV[9] schedule_pattern: the schedule key with `<id>` for the schedule id
-- ARGV[10] execution_times_pattern: the schedule's execution index key with `<id>`
-- ARGV[11] slots_pattern: the workflow slots key with `<id>` for the workflow
-- ARGV[12] waiting_pattern: the workflow waiting key with `<id>`
-- ARGV[13] workflow_executions_pattern: the workflow execution index key with `<id>`
-- ARGV[14] execution_separator: what joins a job id and an attempt into an execution id
-- ARGV[15] wakeup_channel
-- ARGV[16] handler_retry_ms: how long a job lacking a handler waits before it is offered again
-- ARGV[17] keep: executions to keep per schedule (as in finish_jobs.lua)
-- ARGV[18] drop_before_ms: drop executions started before this
-- ARGV[19] retention_ms: the retention age
-- ARGV[20] delayed_pattern: the delayed key with `<queue>`
-- ARGV[21] trim_batch: executions trimmed at most per finish
-- ARGV[22] job_ends: how many schedules' jobs end
-- ARGV[23] run_ends: how many runs end
-- ARGV[24..] queue_names_and_finish_args: the name of each queue, in the order of the queue keys; then the
-- 20 values of each schedule's job ending (see finish_jobs.lua), then the 7 values of each run ending (see
-- finish_runs.lua)
-- Returns {job end answers}, {run end answers} (each as finish_jobs.lua and finish_runs.lua answer), then
-- 'claimed', {job id, queue index from 1, answer...}, ... with one answer per job popped:
-- 'started', execution id, {job fields...}, {schedule fields...} (none for an ad-hoc run), 1 if it took a
-- workflow slot or 0, the workflow's version or 0 when unknown | 'dropped' | 'missing_handler', handler |
-- 'waiting_for_slot'; or then 'empty', earliest due ms of the queues | 'empty' when every queue is empty
local now = tonumber(now_ms)
local job_end_count, run_end_count = tonumber(job_ends), tonumber(run_ends)
local queue_count = #ARGV - queue_names_and_finish_args + 1 - 20 * job_end_count - 7 * run_end_count
local queue_keys, queue_names = queue_and_finish_keys, queue_names_and_finish_args
local first_job_end_key, first_job_end_arg = queue_keys + 4 * queue_count, queue_names + queue_count
local first_run_end_key = first_job_end_key + 16 * job_end_count
local first_run_end_arg = first_job_end_arg + 20 * job_end_count
local ended_jobs = each_item(first_job_end_key, 16, first_job_end_arg, 20, finish_job, job_end_count)
local ended_runs = each_item(first_run_end_key, 8, first_run_end_arg, 7, finish_run, run_end_count)
release_all()
-- Each workflow's requirements, read once per call: a batch mostly runs a few workflows.
local requirements_of = {}
-- The workflow of each tag of the bare runs claimed, read once per call.
local workflow_of_tag = {}
-- The history index entries of the executions started, added once per call rather than once per job.
local index_entries, workflow_entries, workflows_started = {}, {}, {}
-- A regular job id, `sched-<schedule id>-n<repeat>-rc<retry>`, capturing the schedule id.
local regular_job = '^sched%-(' .. string.rep('[%x%-]', 36) .. ')%-n%d+%-rc%d+$'
local known_statuses = {active = true, paused = true, done = true, dead = true}

local function start(delayed, job_id, queue)
  local job = fill_key(job_pattern, job_id)
  local job_fields = redis.call('HGETALL', job)
  local record = {}
  for i = 1, #job_fields, 2 do
    record[job_fields[i]] = job_fields[i + 1]
  end
  local bare_due, bare_tag = nil, nil
  if record.workflow_id == nil and record.schedule_id == nil then
    bare_due, bare_tag = bare_run(job_id)
  end
  if bare_tag then
    if workflow_of_tag[bare_tag] == nil then
      workflow_of_tag[bare_tag] = redis.call('HGET', run_workflows, bare_tag)
    end
    record.workflow_id = workflow_of_tag[bare_tag] or nil
  end
  local is_run = record.schedule_id == nil and record.workflow_id ~= nil
  local schedule_id = record.schedule_id
  local unrecorded = not is_run and schedule_id == nil
  if unrecorded then
    schedule_id = string.match(job_id, regular_job)
  end
  local schedule, fields = nil, {}
  if schedule_id then
    schedule = fill_key(schedule_pattern, schedule_id)
    fields = redis.call('HGETALL', schedule)
  end
  local workflow_id = record.workflow_id
  local schedule_record = {}
  for i = 1, #fields, 2 do
    schedule_record[fields[i]] = fields[i + 1]
  end
  workflow_id = schedule_record.workflow_id or workflow_id
  local backfill_job, next_run_at = schedule_record.backfill_job, schedule_record.next_run_at
  local dropped = not is_run and #fields == 0
  if unrecorded and not dropped then
    local live = live_job_of(schedule_id, schedule_record.live_job, schedule_record.status, next_run_at,
      schedule_record.current_repeat, schedule_record.current_retry)
    -- A record whose status is unknown (corrupt) cannot say: the job starts, and Rust reports the record.
    dropped = live ~= job_id and (live ~= nil or known_statuses[schedule_record.status or 'active'] ~= nil)
  end
  if dropped then
    redis.call('DEL', job)
    return {'dropped'}
  end

  local slot, version = 0, 0
  if requirements_of[workflow_id] == nil then
    local stored = redis.call('HGET', workflow_requirements, workflow_id)
    requirements_of[workflow_id] = stored and cjson.decode(stored) or false
  end
  local requirements = requirements_of[workflow_id]
  if requirements then
    version = requirements.version or 0
    for _, handler in ipairs(requirements.handlers or {}) do
      if not string.find(handlers, ',' .. handler .. ',', 1, true) then
        make_due(delayed, job_id, now + tonumber(handler_retry_ms), wakeup_channel)
        if record.waiting_for_handler ~= handler then
          redis.call('HSET', job, 'waiting_for_handler', handler)
          redis.call('ZADD', handler_waits, 'NX', now, queue .. '/' .. job_id)
        end
        return {'missing_handler', handler}
      end
    end
    if requirements.max_concurrency then
      local slots = fill_key(slots_pattern, workflow_id)
      local waiting = fill_key(waiting_pattern, workflow_id)
      -- Slots whose lease passed belong to crashed workers.
      redis.call('ZREMRANGEBYSCORE', slots, '-inf', '(' .. now)
      if not redis.call('ZSCORE', slots, job_id) and redis.call('ZCARD', slots) >= requirements.max_concurrency then
        -- Wait until the earliest lease could end; a slot freed sooner makes the first waiting job due at once.
        make_due(delayed, job_id, tonumber(redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')[2]), wakeup_channel)
        redis.call('ZADD', waiting, 'NX', now, queue .. '/' .. job_id)
        return {'waiting_for_slot'}
      end
      redis.call('ZADD', slots, lease_until_ms, job_id)
      redis.call('ZREM', waiting, queue .. '/' .. job_id)
      slot = 1
    end
  end

  if record.waiting_for_handler then
    redis.call('HDEL', job, 'waiting_for_handler', 'handler_alerted')
    redis.call('ZREM', handler_waits, queue .. '/' .. job_id)
  end
  local attempt = tonumber(record.attempt or 0) + 1
  local execution_id = job_id .. execution_separator .. attempt
  local started = {'attempt', attempt, 'execution_id', execution_id, 'worker', worker_id, 'workflow_id',
    workflow_id, 'workflow_version', version, 'started_at', now_at}
  local own = nil
  if unrecorded then
    -- What its schedule said of it, kept should the job be handed back after the schedule moved on.
    own = {'schedule_id', schedule_id, 'queue', queue, 'due_ms', next_run_at or now_ms}
  elseif bare_tag and record.workflow_id then
    own = {'workflow_id', workflow_id, 'queue', queue, 'due_ms', string.format('%.0f', bare_due)}
  end
  if own then
    for _, value in ipairs(own) do
      started[#started + 1] = value
      job_fields[#job_fields + 1] = value
    end
  end
  redis.call('HSET', job, unpack(started))
  if schedule then
    -- A backfill run is the schedule's `backfill_job`; it does not count as a run under way.
    if backfill_job ~= job_id then
      redis.call('HINCRBY', schedule, 'running_jobs', 1)
    end
    redis.call('ZADD', fill_key(execution_times_pattern, schedule_id), now_ms, execution_id)
  end
  index_entries[#index_entries + 1], index_entries[#index_entries + 2] = now_ms, execution_id
  local of_workflow = workflow_entries[workflow_id]
  if not of_workflow then
    of_workflow = {}
    workflows_started[#workflows_started + 1] = workflow_id
  end
  of_workflow[#of_workflow + 1], of_workflow[#of_workflow + 2] = now_ms, execution_id
  workflow_entries[workflow_id] = of_workflow
  return {'started', execution_id, job_fields, fields, slot, version}
end

local function index_executions()
  if #index_entries > 0 then
    redis.call('ZADD', execution_index, unpack(index_entries))
  end
  for _, workflow_id in ipairs(workflows_started) do
    redis.call('ZADD', fill_key(workflow_executions_pattern, workflow_id), unpack(workflow_entries[workflow_id]))
  end
end

local wanted = tonumber(count)
local claimed = {ended_jobs, ended_runs, 'claimed'}
local taken = 0
local earliest = nil
for i = queue_keys, first_job_end_key - 1, 4 do
  local delayed, ready, running, leases = KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3]
  promote_due(delayed, ready, now_ms, tonumber(batch))
  local jobs = redis.call('LPOP', ready, wanted - taken) or {}
  local owners, expiries = {}, {}
  for _, job_id in ipairs(jobs) do
    local answer = start(delayed, job_id, ARGV[queue_names + (i - queue_keys) / 4])
    if answer[1] == 'started' then
      owners[#owners + 1], owners[#owners + 2] = job_id, worker_id
      expiries[#expiries + 1], expiries[#expiries + 2] = lease_until_ms, job_id
    end
    table.insert(answer, 1, (i - queue_keys) / 4 + 1)
    table.insert(answer, 1, job_id)
    claimed[#claimed + 1] = answer
  end
  if #owners > 0 then
    redis.call('HSET', running, unpack(owners))
    redis.call('ZADD', leases, unpack(expiries))
  end
  taken = taken + #jobs
  if taken >= wanted then
    index_executions()
    return claimed
  end
  if #jobs == 0 and taken == 0 then
    local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
    if first and (not earliest or tonumber(first) < earliest) then
      earliest = tonumber(first)
    end
  end
end
if taken > 0 then
  index_executions()
  return claimed
end
if earliest then
  return {ended_jobs, ended_runs, 'empty', earliest}
end
return {ended_jobs, ended_runs, 'empty'}
