//! One Lua script per state transition, each loaded once as a static.
//!
//! Shared steps live in `lib/*.lua` and are prepended at compile time, so a rule such as "enqueue wakes
//! sleeping workers" is written once. Each script's header lists its `KEYS`, `ARGV` and return codes;
//! [`crate::store::Store`] has exactly one function of the same name per script.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal $(, $lib:literal)*) => {
        #[doc = concat!("`", $file, "`")]
        pub static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(concat!($(include_str!(concat!("lib/", $lib)), "\n",)* include_str!($file))));
    };
}

script!(CREATE_WORKFLOW, "create_workflow.lua");
script!(UPDATE_WORKFLOW, "update_workflow.lua");
script!(DELETE_WORKFLOW, "delete_workflow.lua");
script!(CREATE_SCHEDULE, "create_schedule.lua", "write_schedule.lua", "enqueue.lua");
script!(UPDATE_SCHEDULE, "update_schedule.lua", "check_revision.lua", "write_schedule.lua", "enqueue.lua");
script!(PAUSE_SCHEDULE, "pause_schedule.lua", "check_revision.lua", "write_schedule.lua");
script!(ACTIVATE_SCHEDULE, "activate_schedule.lua", "check_revision.lua", "write_schedule.lua", "enqueue.lua");
script!(DELETE_SCHEDULE, "delete_schedule.lua", "check_revision.lua");
script!(BACKFILL_SCHEDULE, "backfill_schedule.lua", "enqueue.lua");
script!(TRIGGER_SCHEDULE, "trigger_schedule.lua", "enqueue.lua");
script!(CLAIM_JOB, "claim_job.lua", "promote.lua");
script!(START_JOB, "start_job.lua", "enqueue.lua", "slots.lua");
script!(RENEW_LEASE, "renew_lease.lua");
script!(CANCEL_EXECUTION, "cancel_execution.lua");
script!(FINISH_JOB, "finish_job.lua", "write_schedule.lua", "enqueue.lua", "end_run.lua", "slots.lua");
script!(REQUEUE_JOB, "requeue_job.lua", "enqueue.lua", "end_run.lua");
script!(PROMOTE_DUE_JOBS, "promote_due_jobs.lua", "promote.lua");
script!(RECOVER_SCHEDULE_JOBS, "recover_schedule_jobs.lua", "enqueue.lua");
script!(TAKE_RECONCILER_TURN, "take_reconciler_turn.lua");
script!(TRIM_HISTORY, "trim_history.lua");
script!(RECORD_WORKER_HEARTBEAT, "record_worker_heartbeat.lua");
script!(REMOVE_WORKER, "remove_worker.lua");
