//! What scripts answer, as Rust values. A status is a short string that names itself (`'stale'`, never
//! `-2`); a richer answer is an array led by such a string.

use redis::{FromRedisValue, Value};

use super::{Reply, unexpected};
use crate::{Result, model::JobId};

/// A reply that is one status string, so that a list of them is a reply too.
pub(crate) trait StatusReply: Reply {}

/// Declares a reply that is one status string per outcome.
macro_rules! status_reply {
    ($(
        $(#[$meta:meta])*
        $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+ }
    )*) => {$(
        crate::model::string_enum! {
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub(crate) enum $name as "reply" {
                $($(#[$variant_meta])* $variant = $text,)+
            }
        }

        impl StatusReply for $name {}

        impl Reply for $name {
            fn decode(value: Value, script: &'static str) -> Result<Self> {
                let text: Option<String> = redis::from_redis_value(value.clone()).ok();
                text.and_then(|text| text.parse().ok()).ok_or_else(|| unexpected(script, &value))
            }
        }
    )*};
}

status_reply! {
    /// `create_workflow.lua`.
    WorkflowCreated { Created = "created", NameTaken = "name_taken", }
    /// `update_workflow.lua`.
    WorkflowUpdated { Updated = "updated", Missing = "missing", NameTaken = "name_taken", Stale = "stale", }
    /// `delete_workflow.lua`.
    WorkflowDeleted { Deleted = "deleted", Missing = "missing", InUse = "in_use", }
    /// `retire_workflow.lua`.
    WorkflowRetired { Retired = "retired", InUse = "in_use", }
    /// `create_schedule.lua`.
    ScheduleCreated { Created = "created", UnknownWorkflow = "unknown_workflow", }
    /// `enqueue_runs.lua`.
    RunsEnqueued { Queued = "queued", UnknownWorkflow = "unknown_workflow", }
    /// The schedule scripts that check the revision a change was planned from.
    ScheduleWritten {
        Written = "written",
        Missing = "missing",
        /// The schedule changed since it was read: plan again.
        Stale = "stale",
        UnknownWorkflow = "unknown_workflow",
    }
    /// `trigger_schedule.lua`.
    TriggerAnswer {
        Enqueued = "enqueued",
        /// Waiting for the run under way to end (overlap `buffer_one`).
        Waiting = "waiting",
        Missing = "missing",
        /// A run is under way and the overlap policy is `skip`.
        Refused = "refused",
        /// A triggered run waits already (overlap `buffer_one`).
        AlreadyWaiting = "already_waiting",
    }
    /// `cancel_execution.lua`.
    CancelAnswer { Requested = "requested", Missing = "missing", NotRunning = "not_running", }
    /// `renew_lease.lua`.
    LeaseRenewal { Held = "held", Cancel = "cancel", CancelAsFailure = "cancel_as_failure", Lost = "lost", }
    /// One finish of `finish_jobs.lua`.
    Finished {
        Recorded = "recorded",
        RecordedWithoutSchedule = "recorded_without_schedule",
        /// Not this owner's job, or no longer pending.
        Lost = "lost",
        /// The job's record no longer exists.
        Gone = "gone",
        /// The schedule or its backfill list changed since the finish was planned.
        Stale = "stale",
    }
    /// `requeue_job.lua`.
    RequeueAnswer { Requeued = "requeued", Dropped = "dropped", Lost = "lost", }
    /// `take_reconciler_turn.lua`.
    ReconcilerTurn { Taken = "taken", NotYet = "not_yet", }
}

/// A script that answers once per item (`finish_jobs.lua`, `create_schedules.lua`), in order.
impl<T: StatusReply> Reply for Vec<T> {
    fn decode(value: Value, script: &'static str) -> Result<Self> {
        let Value::Array(answers) = value else { return Err(unexpected(script, &value)) };
        answers.into_iter().map(|answer| T::decode(answer, script)).collect()
    }
}

/// A count (`promote_due_jobs.lua`, `recover_schedule_jobs.lua`, `trim_history.lua`).
impl Reply for u64 {
    fn decode(value: Value, script: &'static str) -> Result<Self> {
        redis::from_redis_value(value.clone()).map_err(|_| unexpected(script, &value))
    }
}

/// The handler waits that became overdue (`review_handler_waits.lua`): `<queue>/<job id>`, the handler, and
/// since when, in ms.
pub(crate) struct OverdueHandlerWaits(pub Vec<(String, String, i64)>);

impl Reply for OverdueHandlerWaits {
    fn decode(value: Value, script: &'static str) -> Result<Self> {
        redis::from_redis_value(value.clone()).map(Self).map_err(|_| unexpected(script, &value))
    }
}

/// A script whose answer carries nothing.
impl Reply for () {
    fn decode(_: Value, _: &'static str) -> Result<Self> {
        Ok(())
    }
}

/// The items of an array answer, read in order.
struct Items {
    items: std::vec::IntoIter<Value>,
    script: &'static str,
    whole: Value,
}

impl Items {
    fn new(value: Value, script: &'static str) -> Result<Self> {
        match &value {
            Value::Array(items) => Ok(Self { items: items.clone().into_iter(), script, whole: value }),
            _ => Err(unexpected(script, &value)),
        }
    }

    fn next<T: FromRedisValue>(&mut self) -> Result<T> {
        let item = self.items.next().ok_or_else(|| unexpected(self.script, &self.whole))?;
        redis::from_redis_value(item).map_err(|_| unexpected(self.script, &self.whole))
    }

    fn job(&mut self) -> Result<JobId> {
        let text: String = self.next()?;
        text.parse().map_err(|_| unexpected(self.script, &self.whole))
    }
}

/// `claim_jobs.lua`: the answers of the finishes it carried, then what it claimed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClaimReply {
    /// One per schedule's job ending, in order.
    pub job_ends: Vec<Finished>,
    /// One per run ending, in order.
    pub run_ends: Vec<Finished>,
    pub claim: ClaimAnswer,
}

impl Reply for ClaimReply {
    fn decode(value: Value, script: &'static str) -> Result<Self> {
        let mut items = Items::new(value, script)?;
        let job_ends = Vec::<Finished>::decode(items.next()?, script)?;
        let run_ends = Vec::<Finished>::decode(items.next()?, script)?;
        Ok(Self { job_ends, run_ends, claim: ClaimAnswer::decode_rest(items, script)? })
    }
}

/// What `claim_jobs.lua` claimed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClaimAnswer {
    /// `{'claimed', {job id, queue index from 1, answer...}, ...}`: one start answer per job popped.
    Claimed(Vec<(JobId, usize, StartAnswer)>),
    /// `{'empty'}` or `{'empty', earliest due ms of the queues}`.
    Empty { next_due_ms: Option<i64> },
}

impl ClaimAnswer {
    fn decode_rest(mut items: Items, script: &'static str) -> Result<Self> {
        match items.next::<String>()?.as_str() {
            "claimed" => {
                let mut claimed = Vec::new();
                while items.items.len() > 0 {
                    let mut job = Items::new(items.next::<Value>()?, script)?;
                    claimed.push((job.job()?, job.next()?, StartAnswer::decode_rest(job, script)?));
                }
                Ok(Self::Claimed(claimed))
            }
            "empty" => Ok(Self::Empty { next_due_ms: items.next().ok() }),
            _ => Err(unexpected(script, &items.whole)),
        }
    }
}

/// What `claim_jobs.lua` did with one job it popped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StartAnswer {
    /// `'started', execution id, {job fields...}, {schedule fields...} (none for an ad-hoc run), 1 if it took
    /// a slot or 0, workflow version or 0`.
    Started {
        execution_id: String,
        job: std::collections::HashMap<String, String>,
        schedule: std::collections::HashMap<String, String>,
        holds_slot: bool,
        workflow_version: Option<u32>,
    },
    /// `'dropped'`: the job's schedule or record is gone.
    Dropped,
    /// `'missing_handler', name`.
    MissingHandler(String),
    /// `'waiting_for_slot'`.
    WaitingForSlot,
}

impl StartAnswer {
    fn decode_rest(mut items: Items, script: &'static str) -> Result<Self> {
        match items.next::<String>()?.as_str() {
            "started" => Ok(Self::Started {
                execution_id: items.next()?,
                job: items.next()?,
                schedule: items.next()?,
                holds_slot: items.next()?,
                workflow_version: Some(items.next::<u32>()?).filter(|version| *version > 0),
            }),
            "dropped" => Ok(Self::Dropped),
            "missing_handler" => Ok(Self::MissingHandler(items.next()?)),
            "waiting_for_slot" => Ok(Self::WaitingForSlot),
            _ => Err(unexpected(script, &items.whole)),
        }
    }
}

/// `backfill_schedule.lua`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackfillAnswer {
    /// `{'queued', runs queued, occurrences already run}`.
    Queued { queued: u64, already_run: u64 },
    /// `{'missing'}`.
    Missing,
}

impl Reply for BackfillAnswer {
    fn decode(value: Value, script: &'static str) -> Result<Self> {
        let mut items = Items::new(value, script)?;
        match items.next::<String>()?.as_str() {
            "queued" => Ok(Self::Queued { queued: items.next()?, already_run: items.next()? }),
            "missing" => Ok(Self::Missing),
            _ => Err(unexpected(script, &items.whole)),
        }
    }
}
