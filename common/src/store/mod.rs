//! Every state change of recur: one async function per Lua script in [`crate::scripts`], named after it.
//!
//! Changes to a schedule are planned in Rust (where the timing rules live, as pure functions) from a
//! snapshot that carries the schedule's `rev`, and applied by a script that refuses a stale revision.
//! The functions here re-read and re-plan on a stale answer, so callers see one atomic transition.

use std::{collections::HashMap, sync::Arc, time::Duration};

use jiff::{SignedDuration, Timestamp};
use redis::{FromRedisValue, Value, aio::ConnectionManager};
use uuid::Uuid;

use crate::{
    Error, Result,
    clock::Clock,
    inspect::Inspect,
    keys::Keys,
    model::{
        Admission, Execution, ExecutionId, ExecutionState, JobId, MAX_OCCURRENCES, NewSchedule, NewWorkflow, Outcome,
        QueueName, Schedule, SchedulePatch, ScheduleStatus, SkipReason, Workflow, millis, rfc3339,
    },
    scripts,
};

#[cfg(test)]
mod calendar_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod workflow_tests;

/// How often a transition is re-planned after a stale revision before giving up; each retry means a
/// concurrent writer made progress, so this is only reached under pathological contention.
const MAX_PLAN_ATTEMPTS: usize = 16;
/// Jobs promoted, requeued or recovered per script call, so that no call does unbounded work.
pub const BATCH: usize = 100;
/// How long a job waits before it is offered again after a worker lacking one of its handlers took it.
const HANDLER_RETRY: Duration = Duration::from_secs(2);
/// Deliveries after which a job that never finished counts as a failure of its schedule.
pub const MAX_DELIVERIES: u32 = 3;

/// How many executions are kept per schedule, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub keep: u64,
    pub max_age: SignedDuration,
}

impl Default for Retention {
    fn default() -> Self {
        Self { keep: 1_000, max_age: SignedDuration::from_hours(7 * 24) }
    }
}

/// The owner of every Redis state transition.
#[derive(Clone)]
pub struct Store {
    /// Shared multiplexed connection for all non-blocking traffic.
    conn: ConnectionManager,
    keys: Keys,
    clock: Arc<dyn Clock>,
    retention: Retention,
}

/// What [`Store::claim_job`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A job, now leased to the worker.
    Claimed { job: JobId, queue: QueueName },
    /// Nothing due; the earliest due time of the queues, if any job waits.
    Empty { next_due: Option<Timestamp> },
}

/// A started job: everything a worker needs to run it and to finish it.
#[derive(Debug, Clone)]
pub struct StartedJob {
    pub job: JobId,
    pub queue: QueueName,
    pub execution: Execution,
    /// The schedule as it was when the job started; the finish plans from it.
    pub schedule: Schedule,
    /// Whether the job took a slot of its workflow's `max_concurrency`, renewed with its lease.
    pub holds_slot: bool,
}

/// What [`Store::start_job`] found.
#[derive(Debug, Clone)]
pub enum Start {
    Started(Box<StartedJob>),
    /// The job's schedule or record is gone; the claim was dropped.
    Dropped,
    /// Another worker holds the job now.
    Lost,
    /// The job was not run: its occurrence was skipped and recorded as such, and the schedule moved on.
    Skipped(SkipReason),
    /// The workflow's `max_concurrency` slots are all taken: the job waits for one, not counted as a delivery.
    WaitingForSlot,
    /// The workflow calls this handler, which the claimant lacks: the job waits for another worker.
    MissingHandler(String),
}

/// What a worker subscribed with [`Store::subscribe_signals`] is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A job became the earliest due one: claim now rather than at the planned wake-up.
    Wakeup,
    /// Stop the running execution `execution`.
    Cancel { execution: String, count_as_failure: bool },
}

/// What [`Store::renew_lease`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Held,
    /// Still held, and the user asked to cancel the run.
    CancelRequested {
        count_as_failure: bool,
    },
    /// Another worker holds the job now.
    Lost,
}

/// The two cancel modes as stored in the job record and sent on the cancel channel.
const CANCEL_AS_CANCELLED: &str = "cancel";
const CANCEL_AS_FAILURE: &str = "fail";

/// The body of `POST /workflows/{id}/run`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The trigger's `payload`.
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// The queue to run on (`default`).
    pub queue: Option<String>,
    pub timeout_seconds: Option<u64>,
}

/// The worker starting a job: its name, the handlers it offers, and the lease it holds jobs for.
#[derive(Debug, Clone)]
pub struct Claimant {
    pub id: String,
    pub handlers: Vec<String>,
    pub lease: Duration,
}

/// Who holds the job a settle ends.
#[derive(Debug, Clone, Copy)]
enum Holder {
    /// The worker named in the execution; with `expired_before`, only if its lease expired before then (the
    /// reconciler ending an abandoned job).
    Worker { expired_before: Option<Timestamp> },
    /// Nobody: the job is still delayed or ready (the reconciler skipping an occurrence).
    Pending,
}

/// What [`Store::trigger_schedule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    pub job: JobId,
    /// The run waits for the run under way to end (overlap `buffer_one`).
    pub waiting: bool,
}

/// What [`Store::backfill_schedule`] queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backfill {
    /// Runs queued, to run one at a time in order.
    pub queued: u64,
    /// Occurrences left out because they already ran or are running as a backfill.
    pub already_run: u64,
    /// The ids of every occurrence in the range, in order.
    pub job_ids: Vec<String>,
}

/// How a finish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishOutcome {
    /// Recorded, and the schedule moved on.
    Recorded,
    /// Recorded; the schedule was deleted while the job ran, so nothing follows.
    RecordedWithoutSchedule,
    /// The job is no longer held by this owner: nothing was recorded.
    Lost,
}

/// What one reconciler pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// Due jobs moved to ready lists.
    pub promoted: u64,
    /// Jobs whose lease expired, handed back or failed after too many deliveries.
    pub requeued: u64,
    /// Jobs re-created for active schedules that had none.
    pub recovered: u64,
    /// Due occurrences skipped because they were found beyond their catch-up window (or after `end_at`).
    pub skipped_expired: u64,
    /// Due occurrences skipped because another run of their schedule was under way (overlap `skip`).
    pub skipped_overlap: u64,
}

impl Store {
    /// A store on `conn` for the deployment `prefix`, reading time from `clock`.
    pub fn new(conn: ConnectionManager, prefix: &str, clock: Arc<dyn Clock>) -> Self {
        Self { conn, keys: Keys::new(prefix), clock, retention: Retention::default() }
    }

    /// The same store with other execution retention bounds.
    pub fn with_retention(self, retention: Retention) -> Self {
        Self { retention, ..self }
    }

    /// Read-only queries on the same connection.
    pub fn inspect(&self) -> Inspect {
        Inspect::new(self.conn.clone(), self.keys.clone(), self.clock.clone())
    }

    /// The clock every transition reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Subscribes, on a connection of its own to `url` (a subscribed connection carries nothing else), to
    /// what workers are told: a job became the earliest due one, or a running execution is to be cancelled.
    /// The stream ends when the connection drops.
    pub async fn subscribe_signals(
        &self,
        url: &str,
    ) -> Result<impl futures_util::Stream<Item = Signal> + Send + use<>> {
        let mut pubsub = redis::Client::open(url)?.get_async_pubsub().await?;
        let cancel_channel = self.keys.cancel_channel();
        pubsub.subscribe(&[self.keys.wakeup_channel(), cancel_channel.clone()]).await?;
        Ok(futures_util::StreamExt::map(pubsub.into_on_message(), move |message| {
            if message.get_channel_name() != cancel_channel {
                return Signal::Wakeup;
            }
            let payload: String = message.get_payload().unwrap_or_default();
            let (execution, mode) = payload.split_once(' ').unwrap_or((payload.as_str(), ""));
            Signal::Cancel { execution: execution.to_string(), count_as_failure: mode == CANCEL_AS_FAILURE }
        }))
    }

    /// The index a schedule is listed in by status: `runs` for every ad-hoc run.
    fn status_index(&self, schedule: &Schedule) -> String {
        if schedule.ad_hoc { self.keys.runs() } else { self.keys.schedules_by_status(schedule.status) }
    }

    async fn invoke<T: FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<T> {
        let mut conn = self.conn.clone();
        Ok(invocation.invoke_async(&mut conn).await?)
    }

    // ---- workflows -------------------------------------------------------------------------------

    /// Saves a new workflow as version 1. Conflict when the name is taken; `UnknownHandler` when it calls a
    /// handler that no live worker offers.
    #[tracing::instrument(skip_all, fields(workflow.name = %new.name))]
    pub async fn create_workflow(&self, new: NewWorkflow) -> Result<Workflow> {
        let now = self.clock.now();
        let workflow = new.into_workflow(Uuid::now_v7(), 1, now, now)?;
        self.check_handlers(&workflow, None).await?;
        let created: i64 = self
            .invoke(
                scripts::CREATE_WORKFLOW
                    .key(self.keys.workflow(workflow.id))
                    .key(self.keys.workflows())
                    .key(self.keys.workflow_names())
                    .key(self.keys.workflow_versions(workflow.id))
                    .key(self.keys.workflow_requirements())
                    .arg(workflow.id.to_string())
                    .arg(&workflow.name)
                    .arg(serde_json::to_string(&workflow)?)
                    .arg(millis(now))
                    .arg(requirements(&workflow)),
            )
            .await?;
        match created {
            1 => Ok(workflow),
            _ => Err(Error::Conflict(format!("a workflow named {:?} exists already", workflow.name))),
        }
    }

    /// Stores a new version of a workflow (name, steps, limit). Runs under way keep the version they run.
    #[tracing::instrument(skip_all, fields(workflow.id = %id))]
    pub async fn update_workflow(&self, id: Uuid, new: NewWorkflow) -> Result<Workflow> {
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let current = self.inspect().workflow(id).await?;
            let workflow = new.clone().into_workflow(id, current.version + 1, current.created_at, self.clock.now())?;
            self.check_handlers(&workflow, None).await?;
            let updated: i64 = self
                .invoke(
                    scripts::UPDATE_WORKFLOW
                        .key(self.keys.workflow(id))
                        .key(self.keys.workflow_names())
                        .key(self.keys.workflow_versions(id))
                        .key(self.keys.workflow_requirements())
                        .arg(id.to_string())
                        .arg(&workflow.name)
                        .arg(serde_json::to_string(&workflow)?)
                        .arg(current.version)
                        .arg(workflow.version)
                        .arg(requirements(&workflow)),
                )
                .await?;
            match updated {
                1 => return Ok(workflow),
                0 => return Err(not_found("workflow", id)),
                -1 => return Err(Error::Conflict(format!("a workflow named {:?} exists already", workflow.name))),
                _ => continue,
            }
        }
        Err(Error::Conflict(format!("workflow {id} is being edited by others; try again")))
    }

    /// Refuses a workflow that calls a handler no live worker offers (of `queue`, when one is given).
    async fn check_handlers(&self, workflow: &Workflow, queue: Option<&QueueName>) -> Result<()> {
        let needed = workflow.handlers();
        if needed.is_empty() {
            return Ok(());
        }
        let offered = self.inspect().offered_handlers(queue).await?;
        match needed.into_iter().find(|name| !offered.contains(*name)) {
            None => Ok(()),
            Some(name) => Err(Error::UnknownHandler {
                field: "steps".to_string(),
                message: match queue {
                    Some(queue) => format!(
                        "no live worker of queue {queue} offers the handler {name:?}; start a worker that registers it"
                    ),
                    None => format!("no live worker offers the handler {name:?}; start a worker that registers it"),
                },
            }),
        }
    }

    /// Deletes a workflow. Conflict while schedules use it.
    #[tracing::instrument(skip_all, fields(workflow.id = %id))]
    pub async fn delete_workflow(&self, id: Uuid) -> Result<()> {
        let deleted: i64 = self
            .invoke(
                scripts::DELETE_WORKFLOW
                    .key(self.keys.workflow(id))
                    .key(self.keys.workflows())
                    .key(self.keys.workflow_names())
                    .key(self.keys.workflow_schedules(id))
                    .key(self.keys.workflow_versions(id))
                    .key(self.keys.workflow_requirements())
                    .arg(id.to_string()),
            )
            .await?;
        match deleted {
            1 => Ok(()),
            0 => Err(not_found("workflow", id)),
            _ => Err(Error::Conflict(format!("workflow {id} is used by schedules; delete them first"))),
        }
    }

    // ---- schedules -------------------------------------------------------------------------------

    /// Saves a new active schedule and enqueues its first job.
    #[tracing::instrument(skip_all, fields(workflow.id = %new.workflow_id))]
    pub async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        let workflow = match self.inspect().workflow(new.workflow_id).await {
            Err(Error::NotFound { .. }) => return Err(Error::UnknownWorkflow(new.workflow_id)),
            other => other?,
        };
        let schedule = new.into_schedule(Uuid::now_v7(), &workflow.name, self.clock.now())?;
        self.insert_schedule(schedule, &workflow).await
    }

    /// Runs a workflow once, now, with `payload` as the trigger's payload: an ad-hoc run, kept as a one-shot
    /// schedule out of the schedule listings (see [`Keys::runs`]). Its first execution is
    /// `sched-{id}-n0-rc0-a1`.
    #[tracing::instrument(skip_all, fields(workflow.id = %workflow_id))]
    pub async fn run_workflow(&self, workflow_id: Uuid, run: NewRun) -> Result<Schedule> {
        let workflow = self.inspect().workflow(workflow_id).await?;
        let now = self.clock.now();
        let new = NewSchedule {
            name: Some(format!("run-{}", workflow.name)),
            description: Some(format!("ad-hoc run of workflow {}", workflow.name)),
            trigger_node_id: None,
            workflow_id,
            interval_seconds: None,
            cron: None,
            timezone: None,
            run_at: Some(now),
            start_at: None,
            end_at: None,
            repeat_count: None,
            retry_max: Some(0),
            timeout_seconds: run.timeout_seconds,
            queue: run.queue,
            payload: run.payload,
            catchup_window_seconds: None,
            overlap: None,
            jitter_seconds: None,
        };
        let mut schedule = new.into_schedule(Uuid::now_v7(), &workflow.name, now)?;
        schedule.ad_hoc = true;
        self.insert_schedule(schedule, &workflow).await
    }

    async fn insert_schedule(&self, schedule: Schedule, workflow: &Workflow) -> Result<Schedule> {
        self.check_handlers(workflow, Some(&schedule.queue)).await?;
        let (job, due) = planned_job(&schedule);
        // An ad-hoc run is indexed under `runs` alone: it does not keep its workflow from being deleted,
        // and the reconciler does not page through it.
        let (all, active, of_workflow) = if schedule.ad_hoc {
            (self.keys.runs(), self.keys.runs(), self.keys.runs())
        } else {
            (
                self.keys.schedules(),
                self.keys.schedules_by_status(ScheduleStatus::Active),
                self.keys.workflow_schedules(schedule.workflow_id),
            )
        };
        let created: i64 = self
            .invoke(
                scripts::CREATE_SCHEDULE
                    .key(self.keys.schedule(schedule.id))
                    .key(all)
                    .key(active)
                    .key(self.keys.workflow(schedule.workflow_id))
                    .key(of_workflow)
                    .key(self.keys.job(&job))
                    .key(self.keys.delayed(&schedule.queue))
                    .key(self.keys.queues())
                    .arg(schedule.id.to_string())
                    .arg(millis(schedule.created_at))
                    .arg(job.to_string())
                    .arg(schedule.queue.as_str())
                    .arg(millis(due))
                    .arg(rfc3339(due))
                    .arg(self.keys.wakeup_channel())
                    .arg(record_args(&schedule)),
            )
            .await?;
        match created {
            1 => {
                tracing::info!(schedule.id = %schedule.id, job.id = %job, "schedule {} created, first run at {due}", schedule.id);
                Ok(schedule)
            }
            _ => Err(Error::UnknownWorkflow(schedule.workflow_id)),
        }
    }

    /// Plans a change from a fresh snapshot of schedule `id` and applies it; `attempt` answers `None` when the
    /// script found the revision stale, and the change is planned again from a newer snapshot.
    async fn change_schedule<T, Attempt>(&self, id: Uuid, mut attempt: impl FnMut(Schedule) -> Attempt) -> Result<T>
    where
        Attempt: Future<Output = Result<Option<T>>>,
    {
        for _ in 0..MAX_PLAN_ATTEMPTS {
            if let Some(done) = attempt(self.inspect().schedule(id).await?).await? {
                return Ok(done);
            }
        }
        Err(contended(id))
    }

    /// Applies a PATCH; timing changes of an active schedule re-plan its pending job at once.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn update_schedule(&self, id: Uuid, patch: SchedulePatch) -> Result<Schedule> {
        let patch = &patch;
        self.change_schedule(id, move |current| async move {
            let current = changeable(current)?;
            let next = current.patched(patch.clone(), self.clock.now())?;
            self.apply_update(&current, next).await
        })
        .await
    }

    /// Writes `next`, planned from `current`, with `update_schedule.lua`: moves the pending job when its due
    /// time or queue changed, or enqueues the live job when it is new. `None` when the revision was stale.
    async fn apply_update(&self, current: &Schedule, mut next: Schedule) -> Result<Option<Schedule>> {
        let id = current.id;
        next.rev = current.rev + 1;
        let moved =
            next.queue != current.queue || next.next_run_at != current.next_run_at || next.live_job != current.live_job;
        let replan = next.status == ScheduleStatus::Active && moved && next.live_job.is_some();
        let (job, due) = planned_job(&next);
        let answer = self
            .invoke(
                scripts::UPDATE_SCHEDULE
                    .key(self.keys.schedule(id))
                    .key(self.keys.workflow_schedules(current.workflow_id))
                    .key(self.keys.workflow_schedules(next.workflow_id))
                    .key(self.keys.workflow(next.workflow_id))
                    .key(self.keys.job(&job))
                    .key(self.keys.delayed(&current.queue))
                    .key(self.keys.ready(&current.queue))
                    .key(self.keys.delayed(&next.queue))
                    .key(self.keys.queues())
                    .arg(current.rev)
                    .arg(id.to_string())
                    .arg(millis(next.created_at))
                    .arg(if replan { "1" } else { "0" })
                    .arg(job.to_string())
                    .arg(next.queue.as_str())
                    .arg(millis(due))
                    .arg(rfc3339(due))
                    .arg(self.keys.wakeup_channel())
                    .arg(record_args(&next)),
            )
            .await?;
        if answer == -1 {
            return Err(Error::UnknownWorkflow(next.workflow_id));
        }
        Ok(applied(answer, id)?.then_some(next))
    }

    /// Pauses an active schedule and removes its pending job.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn pause_schedule(&self, id: Uuid) -> Result<Schedule> {
        self.change_schedule(id, |current| async move {
            let current = changeable(current)?;
            let mut next = current.paused(self.clock.now())?;
            next.rev = current.rev + 1;
            let answer = self
                .invoke(
                    scripts::PAUSE_SCHEDULE
                        .key(self.keys.schedule(id))
                        .key(self.keys.schedules_by_status(ScheduleStatus::Active))
                        .key(self.keys.schedules_by_status(ScheduleStatus::Paused))
                        .key(self.keys.job(&current.planned_job()))
                        .key(self.keys.delayed(&current.queue))
                        .key(self.keys.ready(&current.queue))
                        .arg(current.rev)
                        .arg(id.to_string())
                        .arg(millis(current.created_at))
                        .arg(current.live_job.map(|job| job.to_string()).unwrap_or_default())
                        .arg(record_args(&next)),
                )
                .await?;
            Ok(applied(answer, id)?.then_some(()))
        })
        .await?;
        // The script clears `live_job` when it removed a pending job; read back what it wrote.
        self.inspect().schedule(id).await
    }

    /// Resumes a paused schedule: the job its counters point at runs at the next planned time.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn resume_schedule(&self, id: Uuid) -> Result<Schedule> {
        self.activate_schedule(id, Schedule::resumed).await
    }

    /// Restarts a `done` or `dead` schedule with fresh retry and repeat progress; job ids count on upward.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn restart_schedule(&self, id: Uuid) -> Result<Schedule> {
        self.activate_schedule(id, Schedule::restarted).await
    }

    /// Makes a schedule active again as `plan` says (resume or restart) and enqueues its current job.
    async fn activate_schedule(
        &self,
        id: Uuid,
        plan: fn(&Schedule, Timestamp) -> Result<Schedule>,
    ) -> Result<Schedule> {
        self.change_schedule(id, |current| async move {
            let current = changeable(current)?;
            let mut next = plan(&current, self.clock.now())?;
            next.rev = current.rev + 1;
            let enqueue = next.live_job.is_some() && next.live_job != current.live_job;
            let (job, due) = planned_job(&next);
            let answer = self
                .invoke(
                    scripts::ACTIVATE_SCHEDULE
                        .key(self.keys.schedule(id))
                        .key(self.keys.schedules_by_status(current.status))
                        .key(self.keys.schedules_by_status(ScheduleStatus::Active))
                        .key(self.keys.job(&job))
                        .key(self.keys.delayed(&next.queue))
                        .arg(current.rev)
                        .arg(id.to_string())
                        .arg(millis(next.created_at))
                        .arg(if enqueue { "1" } else { "0" })
                        .arg(job.to_string())
                        .arg(next.queue.as_str())
                        .arg(millis(due))
                        .arg(rfc3339(due))
                        .arg(self.keys.wakeup_channel())
                        .arg(record_args(&next)),
                )
                .await?;
            Ok(applied(answer, id)?.then_some(next))
        })
        .await
    }

    /// Deletes a schedule, its pending jobs and its history; a running job finishes and enqueues nothing.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn delete_schedule(&self, id: Uuid) -> Result<()> {
        self.change_schedule(id, |current| async move {
            let answer = self
                .invoke(
                    scripts::DELETE_SCHEDULE
                        .key(self.keys.schedule(id))
                        .key(self.keys.schedules())
                        .key(self.keys.schedules_by_status(current.status))
                        .key(self.keys.workflow_schedules(current.workflow_id))
                        .key(self.keys.job(&current.planned_job()))
                        .key(self.keys.delayed(&current.queue))
                        .key(self.keys.ready(&current.queue))
                        .key(self.keys.executions(id))
                        .key(self.keys.execution_times(id))
                        .key(self.keys.backfill(id))
                        .key(
                            current
                                .backfill_job
                                .map_or_else(|| self.keys.job(&current.planned_job()), |job| self.keys.job(&job)),
                        )
                        .key(
                            current
                                .buffered_job
                                .map_or_else(|| self.keys.job(&current.planned_job()), |job| self.keys.job(&job)),
                        )
                        .arg(current.rev)
                        .arg(id.to_string())
                        .arg(current.live_job.map(|job| job.to_string()).unwrap_or_default())
                        .arg(current.backfill_job.map(|job| job.to_string()).unwrap_or_default())
                        .arg(current.buffered_job.map(|job| job.to_string()).unwrap_or_default()),
                )
                .await?;
            Ok(applied(answer, id)?.then_some(()))
        })
        .await
    }

    /// Adds an extra run of a schedule, due now, beside its regular chain, as its overlap policy allows
    /// while a run is under way: `skip` refuses (`AlreadyRunning`), `buffer_one` lets it wait for the end.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn trigger_schedule(&self, id: Uuid) -> Result<Triggered> {
        let schedule = changeable(self.inspect().schedule(id).await?)?;
        let job = JobId::manual(id);
        let now = self.clock.now();
        let triggered: i64 = self
            .invoke(
                scripts::TRIGGER_SCHEDULE
                    .key(self.keys.schedule(id))
                    .key(self.keys.job(&job))
                    .key(self.keys.delayed(&schedule.queue))
                    .arg(id.to_string())
                    .arg(job.to_string())
                    .arg(schedule.queue.as_str())
                    .arg(millis(now))
                    .arg(rfc3339(now))
                    .arg(self.keys.wakeup_channel()),
            )
            .await?;
        match triggered {
            1 => Ok(Triggered { job, waiting: false }),
            2 => Ok(Triggered { job, waiting: true }),
            -3 => Err(Error::AlreadyRunning(id)),
            -4 => Err(Error::Conflict(format!(
                "schedule {id} has a run under way and a triggered run already waiting for it (overlap buffer_one)"
            ))),
            _ => Err(not_found("schedule", id)),
        }
    }

    /// Queues one run per occurrence of the schedule from `from` to `to` (both included), run one at a time
    /// in order beside the regular chain, under ids `sched-{id}-bf-{epoch seconds}`.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn backfill_schedule(&self, id: Uuid, from: Timestamp, to: Timestamp) -> Result<Backfill> {
        if to < from {
            return Err(Error::invalid("to", "to must not be before from"));
        }
        let schedule = changeable(self.inspect().schedule(id).await?)?;
        let occurrences = schedule.occurrences_between(from, to, MAX_OCCURRENCES + 1);
        if occurrences.len() > MAX_OCCURRENCES {
            return Err(Error::invalid(
                "to",
                format!("the range holds more than {MAX_OCCURRENCES} occurrences; backfill it in parts"),
            ));
        }
        let jobs: Vec<JobId> = occurrences.iter().map(|t| JobId::backfill(id, *t)).collect();
        if jobs.is_empty() {
            return Ok(Backfill { queued: 0, already_run: 0, job_ids: Vec::new() });
        }
        let mut invocation = scripts::BACKFILL_SCHEDULE.prepare_invoke();
        invocation
            .key(self.keys.schedule(id))
            .key(self.keys.backfill(id))
            .key(self.keys.executions(id))
            .key(self.keys.delayed(&schedule.queue))
            .arg(id.to_string())
            .arg(schedule.queue.as_str())
            .arg(millis(self.clock.now()))
            .arg(self.keys.wakeup_channel());
        for (job, at) in jobs.iter().zip(&occurrences) {
            invocation.key(self.keys.job(job)).arg(job.to_string()).arg(rfc3339(*at));
        }
        let answer: Vec<i64> = self.invoke(&invocation).await?;
        match answer.as_slice() {
            [queued, already_run] => Ok(Backfill {
                queued: u64::try_from(*queued).unwrap_or(0),
                already_run: u64::try_from(*already_run).unwrap_or(0),
                job_ids: jobs.iter().map(ToString::to_string).collect(),
            }),
            _ => Err(not_found("schedule", id)),
        }
    }

    // ---- jobs ------------------------------------------------------------------------------------

    /// Claims the next due job of `queues` (in priority order) for `worker`, leased for `lease`.
    pub async fn claim_job(&self, queues: &[QueueName], worker: &str, lease: Duration) -> Result<Claim> {
        let now = self.clock.now();
        let mut invocation = scripts::CLAIM_JOB.prepare_invoke();
        for queue in queues {
            invocation
                .key(self.keys.delayed(queue))
                .key(self.keys.ready(queue))
                .key(self.keys.running(queue))
                .key(self.keys.leases(queue));
        }
        invocation.arg(millis(now)).arg(lease_until(now, lease)).arg(worker).arg(BATCH);
        let (job, number): (String, i64) = self.invoke(&invocation).await?;
        if job.is_empty() {
            return Ok(Claim::Empty { next_due: (number >= 0).then(|| crate::model::from_millis(number)) });
        }
        let queue = usize::try_from(number - 1).ok().and_then(|index| queues.get(index)).cloned();
        let queue = queue.ok_or_else(|| corrupt("claim_job", format!("queue index {number}")))?;
        Ok(Claim::Claimed { job: job.parse()?, queue })
    }

    /// Starts a claimed job: counts the delivery and records a running execution. A job whose workflow has
    /// no free slot, or calls a handler `claimant` lacks, goes back to wait instead, without counting.
    #[tracing::instrument(skip_all, fields(job.id = %job, queue.name = %queue))]
    pub async fn start_job(&self, job: JobId, queue: &QueueName, claimant: &Claimant) -> Result<Start> {
        let now = self.clock.now();
        let schedule_id = job.schedule();
        let worker = claimant.id.as_str();
        let reply: Vec<Value> = self
            .invoke(
                scripts::START_JOB
                    .key(self.keys.job(&job))
                    .key(self.keys.schedule(schedule_id))
                    .key(self.keys.running(queue))
                    .key(self.keys.leases(queue))
                    .key(self.keys.executions(schedule_id))
                    .key(self.keys.execution_times(schedule_id))
                    .key(self.keys.workflow_requirements())
                    .key(self.keys.delayed(queue))
                    .key(self.keys.execution_index())
                    .arg(job.to_string())
                    .arg(worker)
                    .arg(millis(now))
                    .arg(rfc3339(now))
                    .arg(if counts_as_run(&job) { "1" } else { "0" })
                    .arg(lease_until(now, claimant.lease))
                    .arg(format!(",{},", claimant.handlers.join(",")))
                    .arg(self.keys.pattern(|keys| keys.workflow_slots(Uuid::nil())))
                    .arg(self.keys.pattern(|keys| keys.workflow_waiting(Uuid::nil())))
                    .arg(queue.as_str())
                    .arg(self.keys.wakeup_channel())
                    .arg(HANDLER_RETRY.as_millis() as i64)
                    .arg(self.keys.pattern(|keys| keys.workflow_executions(Uuid::nil()))),
            )
            .await?;
        let mut reply = reply.into_iter();
        let status: i64 = next_value(&mut reply, "start_job")?;
        match status {
            1 => {}
            0 => return Ok(Start::Dropped),
            -4 => return Ok(Start::MissingHandler(next_value(&mut reply, "start_job")?)),
            -5 => return Ok(Start::WaitingForSlot),
            _ => return Ok(Start::Lost),
        }
        let attempt: u32 = next_value(&mut reply, "start_job")?;
        let execution_id: String = next_value(&mut reply, "start_job")?;
        let due_text: String = next_value(&mut reply, "start_job")?;
        let fields: HashMap<String, String> = next_value(&mut reply, "start_job")?;
        let holds_slot = next_value::<i64>(&mut reply, "start_job")? == 1;
        let schedule =
            Schedule::from_fields(&fields).map_err(|detail| corrupt(&self.keys.schedule(schedule_id), detail))?;
        let scheduled_for: Timestamp =
            due_text.parse().map_err(|_| corrupt("start_job", format!("due {due_text:?}")))?;
        let execution = Execution {
            id: execution_id.parse()?,
            job_id: job.to_string(),
            schedule_id,
            workflow_id: schedule.workflow_id,
            workflow_version: None,
            attempt,
            state: ExecutionState::Running,
            scheduled_for,
            jitter_ms: jitter_of(&job, &schedule, scheduled_for),
            started_at: crate::model::from_millis(millis(now)),
            finished_at: None,
            duration_ms: None,
            worker_id: worker.to_string(),
            output: None,
            error: None,
            steps: Vec::new(),
        };
        let started = StartedJob { job, queue: queue.clone(), execution, schedule, holds_slot };
        if let Admission::Skip(reason) = started.schedule.admission(&job, scheduled_for, now) {
            let mut execution = started.execution.clone();
            execution.close(ExecutionState::Skipped, now, Some(reason.to_string()));
            let outcome = Outcome::Skipped(reason);
            return match self.settle(&started, &execution, &outcome, Holder::Worker { expired_before: None }).await? {
                FinishOutcome::Lost => Ok(Start::Lost),
                FinishOutcome::Recorded | FinishOutcome::RecordedWithoutSchedule => Ok(Start::Skipped(reason)),
            };
        }
        if started.schedule.advanced(&job, now).is_some() {
            // Overlap `allow`: the next occurrence is enqueued as this run starts. Should this fail, the run's
            // finish plans it instead, so the error is only logged.
            let advanced = self
                .change_schedule(started.job.schedule(), |current| async move {
                    match current.advanced(&job, self.clock.now()) {
                        Some(next) => self.apply_update(&current, next).await.map(|applied| applied.map(Some)),
                        None => Ok(Some(None)),
                    }
                })
                .await;
            if let Err(error) = advanced {
                tracing::warn!(job.id = %job, error = %error, "could not enqueue the occurrence after job {job}");
            }
        }
        Ok(Start::Started(Box::new(started)))
    }

    /// Extends the lease of a started job, and of the workflow slot it holds, and reports a cancel request
    /// (the fallback for a worker that missed the cancel message).
    pub async fn renew_lease(&self, started: &StartedJob, lease: Duration) -> Result<Renewal> {
        let renewed: i64 = self
            .invoke(
                scripts::RENEW_LEASE
                    .key(self.keys.running(&started.queue))
                    .key(self.keys.leases(&started.queue))
                    .key(self.keys.workflow_slots(started.schedule.workflow_id))
                    .key(self.keys.job(&started.job))
                    .arg(started.job.to_string())
                    .arg(&started.execution.worker_id)
                    .arg(lease_until(self.clock.now(), lease))
                    .arg(if started.holds_slot { "1" } else { "0" }),
            )
            .await?;
        Ok(match renewed {
            1 => Renewal::Held,
            2 => Renewal::CancelRequested { count_as_failure: false },
            3 => Renewal::CancelRequested { count_as_failure: true },
            _ => Renewal::Lost,
        })
    }

    /// Asks the worker running execution `id` to stop it; it ends as `cancelled`, counted by its schedule as
    /// a failure only with `count_as_failure`. Conflict when the execution is not running.
    #[tracing::instrument(skip_all, fields(execution.id = %id))]
    pub async fn cancel_execution(&self, id: &str, count_as_failure: bool) -> Result<()> {
        let parsed: ExecutionId = id.parse().map_err(|_| not_found("execution", id))?;
        let requested: i64 = self
            .invoke(
                scripts::CANCEL_EXECUTION
                    .key(self.keys.job(&parsed.job))
                    .key(self.keys.executions(parsed.job.schedule()))
                    .arg(id)
                    .arg(if count_as_failure { CANCEL_AS_FAILURE } else { CANCEL_AS_CANCELLED })
                    .arg(self.keys.cancel_channel()),
            )
            .await?;
        match requested {
            1 => Ok(()),
            0 => Err(not_found("execution", id)),
            _ => Err(Error::Conflict(format!(
                "execution {id} is not running; only a running execution can be cancelled"
            ))),
        }
    }

    /// Records how a started job ended and moves its schedule on (next job, retry, `done`, `dead`), in one
    /// atomic step that first checks `started` is still held by its worker.
    #[tracing::instrument(skip_all, fields(job.id = %started.job, queue.name = %started.queue))]
    pub async fn finish_job(
        &self,
        started: &StartedJob,
        execution: &Execution,
        outcome: &Outcome,
    ) -> Result<FinishOutcome> {
        self.settle(started, execution, outcome, Holder::Worker { expired_before: None }).await
    }

    /// Plans and applies the end of a job: by its worker, by the reconciler for a job abandoned too often
    /// (only if its lease is still expired), or by the reconciler skipping a pending occurrence.
    async fn settle(
        &self,
        started: &StartedJob,
        execution: &Execution,
        outcome: &Outcome,
        holder: Holder,
    ) -> Result<FinishOutcome> {
        let schedule_id = started.job.schedule();
        let mut snapshot = Some(started.schedule.clone());
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let current = match snapshot.take() {
                Some(schedule) => schedule,
                None => match self.inspect().schedule(schedule_id).await {
                    Ok(schedule) => schedule,
                    // Deleted while the job ran: the script records the execution and stops there.
                    Err(Error::NotFound { .. }) => started.schedule.clone(),
                    Err(error) => return Err(error),
                },
            };
            let now = self.clock.now();
            let settlement = current.settled(&started.job, execution.scheduled_for, execution.id, outcome, now);
            let mut next = settlement.schedule;
            next.rev = current.rev + 1;
            let is_backfill = matches!(started.job, JobId::Backfill { .. });
            let next_job = match (is_backfill, current.backfill_job == Some(started.job)) {
                (true, true) => self.inspect().backfill_head(schedule_id).await?.map(|job| (job, now)),
                (true, false) => None,
                (false, _) => settlement.next_job,
            };
            let (next_id, next_due, next_due_text) = match next_job {
                Some((job @ JobId::Backfill { at, .. }, due)) => (job.to_string(), due, rfc3339(from_seconds(at))),
                Some((job, due)) => (job.to_string(), due, rfc3339(due)),
                None => (String::new(), now, rfc3339(now)),
            };
            let key_or_own =
                |job: Option<JobId>| job.map_or_else(|| self.keys.job(&started.job), |job| self.keys.job(&job));
            let (owner, expired_before) = match holder {
                Holder::Worker { expired_before } => (execution.worker_id.as_str(), expired_before),
                Holder::Pending => ("", None),
            };
            let finished: i64 = self
                .invoke(
                    scripts::FINISH_JOB
                        .key(self.keys.job(&started.job))
                        .key(self.keys.running(&started.queue))
                        .key(self.keys.leases(&started.queue))
                        .key(self.keys.schedule(schedule_id))
                        .key(self.keys.executions(schedule_id))
                        .key(self.keys.execution_times(schedule_id))
                        .key(self.status_index(&current))
                        .key(self.status_index(&next))
                        .key(key_or_own(next_job.map(|(job, _)| job)))
                        .key(self.keys.delayed(&next.queue))
                        .key(self.keys.ready(&next.queue))
                        .key(key_or_own(settlement.dropped_job))
                        .key(self.keys.backfill(schedule_id))
                        .key(self.keys.workflow_slots(started.schedule.workflow_id))
                        .key(self.keys.workflow_waiting(started.schedule.workflow_id))
                        .key(self.keys.execution_index())
                        .key(self.keys.workflow_executions(started.schedule.workflow_id))
                        .arg(started.job.to_string())
                        .arg(owner)
                        .arg(execution.id.to_string())
                        .arg(serde_json::to_string(execution)?)
                        .arg(millis(now))
                        .arg(expired_before.map_or(0, millis))
                        .arg(current.rev)
                        .arg(self.retention.keep)
                        .arg(millis(now) - self.retention.max_age.as_millis() as i64)
                        .arg(self.retention.max_age.as_millis() as i64)
                        .arg(schedule_id.to_string())
                        .arg(millis(next.created_at))
                        .arg(next_id)
                        .arg(next.queue.as_str())
                        .arg(millis(next_due))
                        .arg(next_due_text)
                        .arg(self.keys.wakeup_channel())
                        .arg(if counts_as_run(&started.job) && matches!(holder, Holder::Worker { .. }) {
                            "1"
                        } else {
                            "0"
                        })
                        .arg(settlement.dropped_job.map(|job| job.to_string()).unwrap_or_default())
                        .arg(if is_backfill { "1" } else { "0" })
                        .arg(self.keys.pattern(|keys| keys.delayed(&QueueName::placeholder())))
                        .arg(if current.ad_hoc && next.status != ScheduleStatus::Active { "1" } else { "0" })
                        .arg(if started.holds_slot { "1" } else { "0" })
                        .arg(record_args(&next)),
                )
                .await?;
            match finished {
                1 => {
                    log_settlement(&started.job, &next, next_job);
                    return Ok(FinishOutcome::Recorded);
                }
                2 => return Ok(FinishOutcome::RecordedWithoutSchedule),
                0 => return Ok(FinishOutcome::Lost),
                _ => continue,
            }
        }
        Err(contended(schedule_id))
    }

    /// Hands a job this worker holds back to its queue, closing its execution as failed with `reason`
    /// (used on shutdown for jobs that could not finish in the grace period).
    #[tracing::instrument(skip_all, fields(job.id = %started.job))]
    pub async fn requeue_job(&self, started: &StartedJob, reason: &str) -> Result<bool> {
        let mut execution = started.execution.clone();
        execution.close(ExecutionState::Failed, self.clock.now(), Some(reason.to_string()));
        self.requeue(&started.job, &started.queue, &execution.worker_id, Some(&execution), None).await
    }

    async fn requeue(
        &self,
        job: &JobId,
        queue: &QueueName,
        owner: &str,
        closed: Option<&Execution>,
        lease_expired_before: Option<Timestamp>,
    ) -> Result<bool> {
        let schedule_id = job.schedule();
        let requeued: i64 = self
            .invoke(
                scripts::REQUEUE_JOB
                    .key(self.keys.job(job))
                    .key(self.keys.running(queue))
                    .key(self.keys.leases(queue))
                    .key(self.keys.ready(queue))
                    .key(self.keys.executions(schedule_id))
                    .key(self.keys.schedule(schedule_id))
                    .key(self.keys.delayed(queue))
                    .arg(job.to_string())
                    .arg(owner)
                    .arg(lease_expired_before.map_or(0, millis))
                    .arg(closed.map(|execution| execution.id.to_string()).unwrap_or_default())
                    .arg(closed.map(serde_json::to_string).transpose()?.unwrap_or_default())
                    .arg(millis(self.clock.now()))
                    .arg(self.keys.wakeup_channel()),
            )
            .await?;
        Ok(requeued != 0)
    }

    // ---- reconciler ------------------------------------------------------------------------------

    /// Drops history index entries past the retention age, walking the workflow index in pages.
    pub async fn trim_history(&self) -> Result<u64> {
        let cutoff = millis(self.clock.now()) - self.retention.max_age.as_millis() as i64;
        let mut dropped = 0;
        let mut cursor = None;
        loop {
            let page = self.inspect().workflow_ids(BATCH, cursor.as_deref()).await?;
            let mut invocation = scripts::TRIM_HISTORY.prepare_invoke();
            invocation.key(self.keys.execution_index()).key(self.keys.runs()).arg(cutoff);
            for id in &page.items {
                invocation.key(self.keys.workflow_executions(*id));
            }
            dropped += self.invoke::<u64>(&invocation).await?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(dropped),
            }
        }
    }

    /// One reconciler pass (spec §4.4): hand back jobs whose lease expired, promote overdue jobs, and
    /// re-create the job of every active schedule that lost it. Walks indexes in bounded pages.
    #[tracing::instrument(skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        for queue in self.inspect().queue_names().await? {
            report.requeued += self.requeue_expired_jobs(&queue).await?;
            loop {
                let promoted = self.promote_due_jobs(&queue).await?;
                report.promoted += promoted;
                if promoted < BATCH as u64 {
                    break;
                }
            }
        }
        let mut offset = 0;
        loop {
            let page = self.inspect().active_schedules(offset, BATCH).await?;
            for schedule in &page {
                match self.skip_due_occurrence(schedule).await? {
                    Some(SkipReason::Expired { .. } | SkipReason::Ended) => report.skipped_expired += 1,
                    Some(SkipReason::Overlap) => report.skipped_overlap += 1,
                    None => {}
                }
            }
            report.recovered += self.recover_schedule_jobs(&page).await?;
            if page.len() < BATCH {
                break;
            }
            offset += BATCH;
        }
        self.trim_history().await?;
        if report != ReconcileReport::default() {
            tracing::info!(
                promoted = report.promoted,
                requeued = report.requeued,
                recovered = report.recovered,
                skipped_expired = report.skipped_expired,
                skipped_overlap = report.skipped_overlap,
                "reconciler promoted {} due jobs, requeued {} abandoned jobs, recovered {} lost jobs, skipped {} \
                 expired and {} overlapping occurrences",
                report.promoted,
                report.requeued,
                report.recovered,
                report.skipped_expired,
                report.skipped_overlap
            );
        }
        Ok(report)
    }

    /// Skips the due, not yet started live job of `schedule` when it may no longer run (beyond its catch-up
    /// window, after `end_at`, or overlapping a run under way), records it as skipped and plans the next
    /// occurrence. The reason, when it did.
    async fn skip_due_occurrence(&self, schedule: &Schedule) -> Result<Option<SkipReason>> {
        let now = self.clock.now();
        let (Some(job), Some(due)) = (schedule.live_job, schedule.next_run_at) else { return Ok(None) };
        if due > now {
            return Ok(None);
        }
        let Admission::Skip(reason) = schedule.admission(&job, due, now) else { return Ok(None) };
        let Some(attempt) = self.inspect().job_attempt(&job).await? else { return Ok(None) };
        let execution = Execution {
            id: ExecutionId { job, attempt: attempt + 1 },
            job_id: job.to_string(),
            schedule_id: schedule.id,
            workflow_id: schedule.workflow_id,
            workflow_version: None,
            attempt: attempt + 1,
            state: ExecutionState::Skipped,
            scheduled_for: due,
            jitter_ms: jitter_of(&job, schedule, due),
            started_at: now,
            finished_at: Some(now),
            duration_ms: Some(0),
            worker_id: String::new(),
            output: None,
            error: Some(reason.to_string()),
            steps: Vec::new(),
        };
        let started = StartedJob {
            job,
            queue: schedule.queue.clone(),
            execution: execution.clone(),
            schedule: schedule.clone(),
            holds_slot: false,
        };
        let settled = self.settle(&started, &execution, &Outcome::Skipped(reason), Holder::Pending).await?;
        Ok((settled == FinishOutcome::Recorded).then_some(reason))
    }

    /// Whether this worker should run the periodic reconciler pass now: true for one caller per `every`.
    pub async fn take_reconciler_turn(&self, every: Duration) -> Result<bool> {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        let taken: i64 = self
            .invoke(
                scripts::TAKE_RECONCILER_TURN
                    .key(self.keys.reconciled_at())
                    .arg(millis(self.clock.now()))
                    .arg(every_ms),
            )
            .await?;
        Ok(taken == 1)
    }

    async fn requeue_expired_jobs(&self, queue: &QueueName) -> Result<u64> {
        let mut requeued = 0;
        loop {
            let now = self.clock.now();
            let expired = self.inspect().expired_leases(queue, now, BATCH).await?;
            let mut handled = 0;
            for (job, owner) in &expired {
                if self.recover_abandoned_job(job, queue, owner, now).await? {
                    handled += 1;
                }
            }
            requeued += handled;
            if expired.len() < BATCH || handled == 0 {
                return Ok(requeued);
            }
        }
    }

    /// Ends one abandoned attempt: closes its execution as `lease_expired` and hands the job back, or after
    /// [`MAX_DELIVERIES`] counts it as a failure of the schedule.
    async fn recover_abandoned_job(&self, job: &JobId, queue: &QueueName, owner: &str, now: Timestamp) -> Result<bool> {
        let abandoned = self.inspect().abandoned_attempt(job).await?;
        let Some((mut execution, schedule)) = abandoned else {
            return self.requeue(job, queue, owner, None, Some(now)).await;
        };
        execution.close(ExecutionState::Failed, now, Some("lease_expired".to_string()));
        tracing::warn!(job.id = %job, worker.id = %owner, attempt = execution.attempt,
            "lease of job {job} expired on worker {owner}, attempt {}", execution.attempt);
        if execution.attempt < MAX_DELIVERIES {
            return self.requeue(job, queue, owner, Some(&execution), Some(now)).await;
        }
        // Its slot, if it took one, is freed now rather than when its lease score is next purged.
        let started =
            StartedJob { job: *job, queue: queue.clone(), execution: execution.clone(), schedule, holds_slot: true };
        let outcome = Outcome::Failed(format!("delivered {MAX_DELIVERIES} times without finishing"));
        let holder = Holder::Worker { expired_before: Some(now) };
        Ok(self.settle(&started, &execution, &outcome, holder).await? != FinishOutcome::Lost)
    }

    /// Moves one batch of due jobs of `queue` to its ready list.
    pub async fn promote_due_jobs(&self, queue: &QueueName) -> Result<u64> {
        self.invoke(
            scripts::PROMOTE_DUE_JOBS
                .key(self.keys.delayed(queue))
                .key(self.keys.ready(queue))
                .arg(millis(self.clock.now()))
                .arg(BATCH),
        )
        .await
    }

    /// Re-creates the live job of each active schedule in `page` that has none in any queue structure.
    pub async fn recover_schedule_jobs(&self, page: &[Schedule]) -> Result<u64> {
        let now = self.clock.now();
        let mut invocation = scripts::RECOVER_SCHEDULE_JOBS.prepare_invoke();
        invocation.arg(self.keys.wakeup_channel());
        let mut any = false;
        for schedule in page.iter().filter(|schedule| schedule.status == ScheduleStatus::Active) {
            let job = schedule.planned_job();
            // An overdue run runs once, at once.
            let due = schedule.next_run_at.unwrap_or(now).max(now);
            invocation
                .key(self.keys.schedule(schedule.id))
                .key(self.keys.job(&job))
                .key(self.keys.delayed(&schedule.queue))
                .key(self.keys.ready(&schedule.queue))
                .key(self.keys.running(&schedule.queue))
                .arg(schedule.rev)
                .arg(schedule.id.to_string())
                .arg(job.to_string())
                .arg(schedule.queue.as_str())
                .arg(millis(due))
                .arg(rfc3339(due));
            any = true;
        }
        if !any {
            return Ok(0);
        }
        self.invoke(&invocation).await
    }

    // ---- workers ---------------------------------------------------------------------------------

    /// Marks `worker` alive with a description; forgets workers silent for longer than `horizon`.
    pub async fn record_worker_heartbeat(
        &self,
        worker: &str,
        description: &[(&str, String)],
        horizon: Duration,
    ) -> Result<()> {
        let now = millis(self.clock.now());
        let horizon_ms = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
        let mut invocation = scripts::RECORD_WORKER_HEARTBEAT.prepare_invoke();
        invocation
            .key(self.keys.workers())
            .key(self.keys.worker(worker))
            .arg(worker)
            .arg(now)
            .arg(horizon_ms)
            .arg(now.saturating_sub(horizon_ms));
        for (name, value) in description {
            invocation.arg(*name).arg(value);
        }
        let _: i64 = self.invoke(&invocation).await?;
        Ok(())
    }

    /// Forgets a worker that stopped cleanly.
    pub async fn remove_worker(&self, worker: &str) -> Result<()> {
        let _: i64 = self
            .invoke(scripts::REMOVE_WORKER.key(self.keys.workers()).key(self.keys.worker(worker)).arg(worker))
            .await?;
        Ok(())
    }
}

/// The answer every revision-checked schedule script shares: 1 applied (`true`), 0 the schedule is gone, -2 its
/// revision changed since it was read (`false`: plan again).
fn applied(answer: i64, id: Uuid) -> Result<bool> {
    match answer {
        1 => Ok(true),
        0 => Err(not_found("schedule", id)),
        -2 => Ok(false),
        other => Err(corrupt("schedule script", format!("unexpected answer {other} for schedule {id}"))),
    }
}

/// Whether a job counts as a run under way for its schedule's overlap policy: regular and manual runs do,
/// backfill runs (which run on their own, one at a time) do not.
fn counts_as_run(job: &JobId) -> bool {
    !matches!(job, JobId::Backfill { .. })
}

/// The jitter in the due time of a schedule's live first attempt at an occurrence.
fn jitter_of(job: &JobId, schedule: &Schedule, due: Timestamp) -> Option<u64> {
    let first_attempt = matches!(job, JobId::Regular { retry: 0, .. }) && schedule.live_job == Some(*job);
    let slot = schedule.slot_at.filter(|slot| first_attempt && schedule.jitter_seconds > 0 && *slot <= due)?;
    u64::try_from(due.duration_since(slot).as_millis()).ok()
}

fn from_seconds(seconds: i64) -> Timestamp {
    crate::model::from_millis(seconds.saturating_mul(1000))
}

/// The regular job a schedule's record points at and its due time.
fn planned_job(schedule: &Schedule) -> (JobId, Timestamp) {
    (schedule.planned_job(), schedule.next_run_at.unwrap_or(schedule.updated_at))
}

/// ARGV tail of the scripts that write a schedule (see `lib/write_schedule.lua`).
fn record_args(schedule: &Schedule) -> Vec<String> {
    let fields = schedule.to_fields();
    let deleted: Vec<String> = fields.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| (*k).to_string()).collect();
    let mut args = Vec::with_capacity(1 + fields.len() * 2);
    args.push(deleted.len().to_string());
    args.extend(deleted);
    for (name, value) in fields {
        if let Some(value) = value {
            args.push(name.to_string());
            args.push(value);
        }
    }
    args
}

fn lease_until(now: Timestamp, lease: Duration) -> i64 {
    millis(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2))
}

fn next_value<T: FromRedisValue>(reply: &mut impl Iterator<Item = Value>, script: &str) -> Result<T> {
    let value = reply.next().ok_or_else(|| corrupt(script, "reply too short".to_string()))?;
    Ok(redis::from_redis_value(value).map_err(redis::RedisError::from)?)
}

fn log_settlement(job: &JobId, schedule: &Schedule, next_job: Option<(JobId, Timestamp)>) {
    match next_job {
        Some((next, due)) => tracing::info!(job.id = %job, schedule.id = %schedule.id, next_job.id = %next,
            "job {job} ended; next job {next} due at {due}"),
        None => tracing::info!(job.id = %job, schedule.id = %schedule.id, schedule.status = schedule.status.as_str(),
            "job {job} ended; schedule is {}", schedule.status.as_str()),
    }
}

/// `schedule`, unless it is an ad-hoc run, which runs once as it was asked to and is never changed.
fn changeable(schedule: Schedule) -> Result<Schedule> {
    if schedule.ad_hoc {
        return Err(Error::Conflict(format!(
            "{} is an ad-hoc run of a workflow and cannot be changed; cancel its execution or delete it",
            schedule.id
        )));
    }
    Ok(schedule)
}

/// What `start_job.lua` checks before a run of `workflow` may start, or `''` when nothing.
fn requirements(workflow: &Workflow) -> String {
    let handlers = workflow.handlers();
    if workflow.max_concurrency.is_none() && handlers.is_empty() {
        return String::new();
    }
    let mut requirements = serde_json::json!({ "handlers": handlers });
    if let Some(limit) = workflow.max_concurrency {
        requirements["max_concurrency"] = limit.into();
    }
    requirements.to_string()
}

pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> Error {
    Error::NotFound { kind, id: id.to_string() }
}

fn contended(id: Uuid) -> Error {
    Error::Conflict(format!("schedule {id} changed too often during the request; try again"))
}

pub(crate) fn corrupt(key: &str, detail: String) -> Error {
    Error::Corrupt { key: key.to_string(), detail }
}
