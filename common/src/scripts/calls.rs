//! Every script recur runs, declared once: keys, then arguments, in the order of the script's header.
//! Lists (`..name`) are the repeated tails: several queues, schedules or occurrences in one call.

use super::{
    BackfillAnswer, CancelAnswer, ClaimReply, Finished, LeaseRenewal, OverdueHandlerWaits, ReconcilerTurn,
    RequeueAnswer, RunsEnqueued, ScheduleCreated, ScheduleWritten, TriggerAnswer, WorkflowCreated, WorkflowDeleted,
    WorkflowRetired, WorkflowUpdated, scripts,
};
use crate::record::ScheduleRecord;

scripts! {
    /// Saves a new workflow under a unique name, as its version 1.
    CreateWorkflow = "create_workflow.lua" [] -> WorkflowCreated {
        keys { workflow: String, workflows: String, workflow_names: String, workflow_versions: String,
            workflow_requirements: String, }
        args { workflow_id: String, name: String, workflow_json: String, created_ms: i64, requirements_json: String, }
    }

    /// Stores a new version of a workflow.
    UpdateWorkflow = "update_workflow.lua" [] -> WorkflowUpdated {
        keys { workflow: String, workflow_names: String, workflow_versions: String, workflow_requirements: String, }
        args { workflow_id: String, name: String, workflow_json: String, replaced_version: u32, version: u32,
            requirements_json: String, }
    }

    /// Deletes a workflow no schedule uses.
    DeleteWorkflow = "delete_workflow.lua" ["workflow_uses.lua"] -> WorkflowDeleted {
        keys { workflow: String, workflows: String, workflow_names: String, workflow_uses: String,
            legacy_workflow_schedules: String, workflow_versions: String, workflow_requirements: String, }
        args { workflow_id: String, }
    }

    /// Records the shard count of a new deployment and answers the one it has.
    CheckLayout = "check_layout.lua" [] -> u64 {
        keys { layout: String, workflows: String, }
        args { shards: usize, }
    }

    /// Gives one shard its copy of a workflow and of its requirements.
    CopyWorkflow = "copy_workflow.lua" [] -> () {
        keys { workflow: String, workflow_requirements: String, }
        args { workflow_id: String, workflow_json: String, requirements_json: String, }
    }

    /// Takes a workflow's copy away from one shard, unless schedules of the shard use it.
    RetireWorkflow = "retire_workflow.lua" ["workflow_uses.lua"] -> WorkflowRetired {
        keys { workflow: String, workflow_requirements: String, workflow_uses: String,
            legacy_workflow_schedules: String, }
        args { workflow_id: String, }
    }

    /// Saves new schedules and enqueues the first job of each.
    CreateSchedules = "create_schedules.lua"
        ["write_schedule.lua", "enqueue.lua", "items.lua", "workflow_uses.lua"] -> Vec<ScheduleCreated> {
        keys { queues: String, workflow_uses: String, ..schedule_keys: Vec<String>, }
        args { wakeup_channel: String, ..schedule_args: Vec<String>, }
    }

    /// Queues ad-hoc runs of a workflow, each due now or at its `run_at`: a bare run without a record.
    EnqueueRuns = "enqueue_runs.lua" ["items.lua", "enqueue.lua", "bare_run.lua"] -> RunsEnqueued {
        keys { workflow: String, queues: String, run_workflows: String, ..run_keys: Vec<String>, }
        args { workflow_id: String, now_ms: i64, wakeup_channel: String, run_tag: String,
            ..run_args: Vec<String>, }
    }

    /// Applies a PATCH, moving the pending job when its timing or queue changed.
    UpdateSchedule = "update_schedule.lua"
        ["check_revision.lua", "write_schedule.lua", "enqueue.lua", "workflow_uses.lua"] -> ScheduleWritten {
        keys { schedule: String, workflow_uses: String, old_legacy_workflow_schedules: String, workflow: String,
            job: String, old_delayed: String, old_ready: String, delayed: String, queues: String, }
        args { expected_rev: u64, schedule_id: String, old_workflow_id: String, workflow_id: String, replan: bool,
            job_id: String, queue: String, due_ms: i64, wakeup_channel: String, recorded: bool,
            record: ScheduleRecord, }
    }

    /// Pauses a schedule and removes its pending job.
    PauseSchedule = "pause_schedule.lua" ["check_revision.lua", "write_schedule.lua"] -> ScheduleWritten {
        keys { schedule: String, active_index: String, paused_index: String, job: String, delayed: String,
            ready: String, }
        args { expected_rev: u64, schedule_id: String, created_ms: i64, live_job_id: String,
            record: ScheduleRecord, }
    }

    /// Makes a schedule active again (resume or restart) and enqueues its current job.
    ActivateSchedule = "activate_schedule.lua"
        ["check_revision.lua", "write_schedule.lua", "enqueue.lua"] -> ScheduleWritten {
        keys { schedule: String, old_status_index: String, active_index: String, job: String, delayed: String, }
        args { expected_rev: u64, schedule_id: String, created_ms: i64, enqueue: bool, job_id: String,
            queue: String, due_ms: i64, wakeup_channel: String, recorded: bool, record: ScheduleRecord, }
    }

    /// Deletes a schedule, its pending jobs and its history.
    DeleteSchedule = "delete_schedule.lua" ["check_revision.lua", "workflow_uses.lua"] -> ScheduleWritten {
        keys { schedule: String, status_index: String, workflow_uses: String, legacy_workflow_schedules: String,
            live_job: String, delayed: String, ready: String, executions: String, execution_times: String,
            backfill: String, backfill_job: String, buffered_job: String, }
        args { expected_rev: u64, schedule_id: String, workflow_id: String, live_job_id: String,
            backfill_job_id: String, buffered_job_id: String, }
    }

    /// Queues one run per past occurrence, to run one at a time.
    BackfillSchedule = "backfill_schedule.lua" ["enqueue.lua"] -> BackfillAnswer {
        keys { schedule: String, backfill: String, executions: String, delayed: String, ..jobs: Vec<String>, }
        args { schedule_id: String, queue: String, now_ms: i64, wakeup_channel: String,
            ..occurrences: Vec<String>, }
    }

    /// Adds a manual run beside the regular chain, as the overlap policy allows.
    TriggerSchedule = "trigger_schedule.lua" ["enqueue.lua"] -> TriggerAnswer {
        keys { schedule: String, job: String, delayed: String, }
        args { schedule_id: String, job_id: String, queue: String, now_ms: i64, wakeup_channel: String, }
    }

    /// Records the ends of a worker's jobs it carries, then claims and starts due jobs of the worker's queues:
    /// leases each, counts its delivery, marks it running.
    ClaimJobs = "claim_jobs.lua" ["promote.lua", "enqueue.lua", "slots.lua", "live_job.lua", "bare_run.lua", "owner.lua",
        "write_schedule.lua", "end_run.lua", "end_job.lua", "finish_job.lua", "finish_run.lua", "items.lua"]
        -> ClaimReply {
        keys { workflow_requirements: String, execution_index: String, handler_waits: String,
            run_workflows: String, run_executions: String, ..queue_and_finish_keys: Vec<String>, }
        args { now_ms: i64, now_at: String, lease_until_ms: i64, worker_id: String, count: usize, batch: usize,
            handlers: String, job_pattern: String, schedule_pattern: String, execution_times_pattern: String,
            slots_pattern: String, waiting_pattern: String, workflow_executions_pattern: String,
            execution_separator: String, wakeup_channel: String, handler_retry_ms: i64, keep: u64,
            drop_before_ms: i64, retention_ms: i64, delayed_pattern: String, trim_batch: usize, job_ends: usize,
            run_ends: usize, ..queue_names_and_finish_args: Vec<String>, }
    }

    /// Extends a running job's lease and reports a cancel request.
    RenewLease = "renew_lease.lua" ["owner.lua"] -> LeaseRenewal {
        keys { running: String, leases: String, workflow_slots: String, job: String, }
        args { job_id: String, worker_id: String, lease_until_ms: i64, holds_slot: bool, }
    }

    /// Asks the worker running an execution to stop it.
    CancelExecution = "cancel_execution.lua" [] -> CancelAnswer {
        keys { job: String, executions: String, run_executions: String, }
        args { execution_id: String, mode: String, cancel_channel: String, }
    }

    /// Ends schedules' jobs: for each, records the execution, writes the schedule's next state, enqueues the
    /// next job.
    FinishJobs = "finish_jobs.lua"
        ["owner.lua", "write_schedule.lua", "enqueue.lua", "end_run.lua", "slots.lua", "end_job.lua", "finish_job.lua",
        "items.lua"]
        -> Vec<Finished> {
        keys { execution_index: String, ..finish_keys: Vec<String>, }
        args { now_ms: i64, keep: u64, drop_before_ms: i64, retention_ms: i64, wakeup_channel: String,
            delayed_pattern: String, trim_batch: usize, ..finish_args: Vec<String>, }
    }

    /// Ends ad-hoc runs: for each, records the execution in the shard's run history.
    FinishRuns = "finish_runs.lua" ["owner.lua", "enqueue.lua", "slots.lua", "end_job.lua", "finish_run.lua", "items.lua"] -> Vec<Finished> {
        keys { execution_index: String, run_executions: String, ..run_keys: Vec<String>, }
        args { now_ms: i64, wakeup_channel: String, delayed_pattern: String, ..run_args: Vec<String>, }
    }

    /// Hands a claimed job back to its ready list.
    RequeueJob = "requeue_job.lua" ["owner.lua", "enqueue.lua", "end_run.lua"] -> RequeueAnswer {
        keys { job: String, running: String, leases: String, ready: String, executions: String, schedule: String,
            delayed: String, run_executions: String, }
        args { job_id: String, owner: String, expired_before_ms: i64, execution_id: String, execution_json: String,
            now_ms: i64, wakeup_channel: String, counts_as_run: bool, }
    }

    /// Moves one bounded batch of due jobs to the ready list.
    PromoteDueJobs = "promote_due_jobs.lua" ["promote.lua"] -> u64 {
        keys { delayed: String, ready: String, }
        args { now_ms: i64, batch: usize, }
    }

    /// Re-creates the lost live job of active schedules.
    RecoverScheduleJobs = "recover_schedule_jobs.lua" ["enqueue.lua", "live_job.lua"] -> u64 {
        keys { reconcile_cursor: String, queues: String, ..schedule_keys: Vec<String>, }
        args { wakeup_channel: String, next_rank: usize, ..schedule_args: Vec<String>, }
    }

    /// Lets one worker run the periodic reconciler pass per interval.
    TakeReconcilerTurn = "take_reconciler_turn.lua" [] -> ReconcilerTurn {
        keys { reconciled_at: String, }
        args { now_ms: i64, min_gap_ms: i64, }
    }

    /// Drops a batch of execution index entries past the retention age, and the ad-hoc runs' records they name.
    TrimExecutionIndex = "trim_execution_index.lua" [] -> u64 {
        keys { execution_index: String, run_executions: String, }
        args { drop_before_ms: i64, batch: usize, }
    }

    /// Drops workflows' execution index entries past the retention age.
    TrimHistory = "trim_history.lua" [] -> u64 {
        keys { ..indexes: Vec<String>, }
        args { drop_before_ms: i64, }
    }

    /// Drops handler waits that ended and reports, once each, those that became overdue.
    ReviewHandlerWaits = "review_handler_waits.lua" ["slots.lua"] -> OverdueHandlerWaits {
        keys { handler_waits: String, }
        args { job_pattern: String, alert_before_ms: i64, batch: usize, }
    }

    /// Adds records that do not decode to the list operators see, and drops repaired ones from it.
    NoteCorruptRecords = "note_corrupt_records.lua" [] -> () {
        keys { corrupt_records: String, }
        args { ..entries: Vec<String>, }
    }

    /// Marks a worker alive and forgets silent ones; answers Redis's clock in ms.
    RecordWorkerHeartbeat = "record_worker_heartbeat.lua" [] -> u64 {
        keys { workers: String, worker: String, }
        args { worker_id: String, now_ms: i64, lifetime_ms: i64, prune_before_ms: i64, ..description: Vec<String>, }
    }

    /// Forgets a worker that stopped cleanly.
    RemoveWorker = "remove_worker.lua" [] -> () {
        keys { workers: String, worker: String, }
        args { worker_id: String, }
    }
}
