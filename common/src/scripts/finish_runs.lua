-- Ends ad-hoc runs, each in one atomic step, several per call (`finish_jobs` ends schedules' jobs). For
-- each: checks the job is still held by its owner (or, for a queued run being cancelled, takes it out of its
-- queue) and records its execution in the shard's run history. A run has no schedule: nothing follows it.
-- The reconciler also ends abandoned runs here, with `expired_before_ms` set so that a lease renewed
-- meanwhile wins.
-- KEYS[1] execution_index: every execution (ZSET)
-- KEYS[2] run_executions: the ad-hoc runs' executions (HASH)
-- KEYS[3..] run_keys: for each run, 8 keys: the job (HASH), its queue's running (HASH), leases (ZSET),
-- delayed (ZSET) and ready (LIST), the workflow's slots (ZSET), the jobs waiting for a slot (ZSET) and the
-- workflow's executions (ZSET)
-- ARGV[1] now_ms
-- ARGV[2] wakeup_channel
-- ARGV[3] delayed_pattern: the delayed key with `<queue>`
-- ARGV[4..] run_args: for each run, 7 values: job id, '1' for a queued run being cancelled (pending: it
-- never started) or '', the owner worker ('' when pending), execution id, the execution's JSON as it ended,
-- '0' or the ms its lease must have ended before, '1' if the job holds a workflow slot
-- Returns one answer per run, in order: 'recorded_without_schedule' | 'lost' not this owner's job (or no
-- longer queued) | 'gone' the job's record no longer exists (Redis lost its data)
local answers = each_item(run_keys, 8, run_args, 7, finish_run)
release_all()
return answers
