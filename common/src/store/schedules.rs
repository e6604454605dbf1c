//! Schedules: create (and ad-hoc runs), patch, pause, resume, restart, delete, trigger, backfill. Each is
//! planned by a rule of the model and written by one revision-checked script.

use jiff::Timestamp;
use uuid::Uuid;

use super::{Store, is_recorded, planned_job};
use crate::{
    Error, Result,
    model::{ExecutionId, JobId, MAX_OCCURRENCES, Schedule, SchedulePatch, ScheduleStatus, millis, rfc3339},
    record::ScheduleRecord,
    scripts::{
        BackfillAnswer, ScheduleWritten, TriggerAnswer,
        calls::{ActivateSchedule, BackfillSchedule, DeleteSchedule, PauseSchedule, TriggerSchedule, UpdateSchedule},
    },
};

/// What [`Store::trigger_schedule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    pub job: JobId,
    /// The run waits for the run under way to end (overlap `buffer_one`).
    pub waiting: bool,
}

/// What [`Store::backfill_schedule`] queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Backfill {
    /// Runs queued, to run one at a time in order.
    pub queued: u64,
    /// Occurrences left out because they already ran or are running as a backfill.
    pub already_run: u64,
    /// The ids of every occurrence in the range, in order.
    pub job_ids: Vec<String>,
}

impl Store {
    /// Applies a PATCH; timing changes of an active schedule re-plan its pending job at once.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn update_schedule(&self, id: Uuid, patch: SchedulePatch) -> Result<Schedule> {
        let patch = &patch;
        self.change_schedule(id, move |current| async move {
            let next = current.patched(patch.clone(), self.clock.now())?;
            if next == current {
                return Ok(Some(current));
            }
            if next.workflow_id != current.workflow_id {
                self.check_limited_shard(id, next.workflow_id).await?;
            }
            self.apply_update(&current, next).await
        })
        .await
    }

    /// With several shards, a schedule moves onto a workflow with a concurrency limit only when it lives in
    /// that workflow's shard (where the limit's slots are counted); conflict otherwise.
    async fn check_limited_shard(&self, id: Uuid, workflow_id: Uuid) -> Result<()> {
        if self.keys.shard_count() == 1 || self.keys.shard_of(id) == self.keys.shard_of(workflow_id) {
            return Ok(());
        }
        let workflow = match self.inspect().workflow(workflow_id).await {
            // The script answers for a workflow that does not exist.
            Err(Error::NotFound { .. }) => return Ok(()),
            other => other?,
        };
        if workflow.max_concurrency.is_none() {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "workflow {workflow_id} has max_concurrency, and with RECUR_SHARDS={} its runs live in one shard, \
             which schedule {id} is not in; create a new schedule for that workflow instead",
            self.keys.shard_count()
        )))
    }

    /// Writes `next`, planned from `current`, with `update_schedule.lua`: moves the pending job when its due
    /// time or queue changed, or enqueues the live job when it is new. `None` when the revision was stale.
    pub(super) async fn apply_update(&self, current: &Schedule, mut next: Schedule) -> Result<Option<Schedule>> {
        let id = current.id;
        next.rev = current.rev + 1;
        let moved =
            next.queue != current.queue || next.next_run_at != current.next_run_at || next.live_job != current.live_job;
        let (job, due) = planned_job(&next);
        let keys = self.keys.of(id);
        let written = self
            .run(UpdateSchedule {
                schedule: keys.schedule(id),
                workflow_uses: keys.workflow_uses(),
                old_legacy_workflow_schedules: keys.legacy_workflow_schedules(current.workflow_id),
                workflow: keys.workflow(next.workflow_id),
                job: keys.job(&job),
                old_delayed: keys.delayed(&current.queue),
                old_ready: keys.ready(&current.queue),
                delayed: keys.delayed(&next.queue),
                queues: keys.queues(),
                expected_rev: current.rev,
                schedule_id: id.to_string(),
                old_workflow_id: current.workflow_id.to_string(),
                workflow_id: next.workflow_id.to_string(),
                replan: next.status == ScheduleStatus::Active && moved && next.live_job.is_some(),
                job_id: job.to_string(),
                queue: next.queue.to_string(),
                due_ms: millis(due),
                wakeup_channel: self.keys.wakeup_channel(),
                recorded: is_recorded(&next, &job, due),
                record: ScheduleRecord::changes(current, &next),
            })
            .await?;
        if written == ScheduleWritten::UnknownWorkflow {
            return Err(Error::UnknownWorkflow(next.workflow_id));
        }
        Ok(applied(written, id)?.then_some(next))
    }

    /// Pauses an active schedule and removes its pending job.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn pause_schedule(&self, id: Uuid) -> Result<Schedule> {
        self.change_schedule(id, |current| async move {
            let mut next = current.paused(self.clock.now())?;
            next.rev = current.rev + 1;
            let keys = self.keys.of(id);
            let written = self
                .run(PauseSchedule {
                    schedule: keys.schedule(id),
                    active_index: keys.schedules_by_status(ScheduleStatus::Active),
                    paused_index: keys.schedules_by_status(ScheduleStatus::Paused),
                    job: keys.job(&current.planned_job()),
                    delayed: keys.delayed(&current.queue),
                    ready: keys.ready(&current.queue),
                    expected_rev: current.rev,
                    schedule_id: id.to_string(),
                    created_ms: millis(current.created_at),
                    live_job_id: job_text(current.live_job),
                    record: ScheduleRecord::changes(&current, &next),
                })
                .await?;
            Ok(applied(written, id)?.then_some(()))
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
            let mut next = plan(&current, self.clock.now())?;
            next.rev = current.rev + 1;
            let (job, due) = planned_job(&next);
            let keys = self.keys.of(id);
            let written = self
                .run(ActivateSchedule {
                    schedule: keys.schedule(id),
                    old_status_index: keys.schedules_by_status(current.status),
                    active_index: keys.schedules_by_status(ScheduleStatus::Active),
                    job: keys.job(&job),
                    delayed: keys.delayed(&next.queue),
                    expected_rev: current.rev,
                    schedule_id: id.to_string(),
                    created_ms: millis(next.created_at),
                    enqueue: next.live_job.is_some() && next.live_job != current.live_job,
                    job_id: job.to_string(),
                    queue: next.queue.to_string(),
                    due_ms: millis(due),
                    wakeup_channel: self.keys.wakeup_channel(),
                    recorded: is_recorded(&next, &job, due),
                    record: ScheduleRecord::changes(&current, &next),
                })
                .await?;
            Ok(applied(written, id)?.then_some(next))
        })
        .await
    }

    /// Deletes a schedule, its pending jobs and its history; a running job finishes and enqueues nothing.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn delete_schedule(&self, id: Uuid) -> Result<()> {
        self.change_schedule(id, |current| async move {
            let keys = self.keys.of(id);
            // A job key for each job the script may delete; the live job's key stands in for one it has not.
            let job_key = |job: Option<JobId>| keys.job(&job.unwrap_or_else(|| current.planned_job()));
            let written = self
                .run(DeleteSchedule {
                    schedule: keys.schedule(id),
                    status_index: keys.schedules_by_status(current.status),
                    workflow_uses: keys.workflow_uses(),
                    legacy_workflow_schedules: keys.legacy_workflow_schedules(current.workflow_id),
                    live_job: job_key(None),
                    delayed: keys.delayed(&current.queue),
                    ready: keys.ready(&current.queue),
                    executions: keys.executions(id),
                    execution_times: keys.execution_times(id),
                    backfill: keys.backfill(id),
                    backfill_job: job_key(current.backfill_job),
                    buffered_job: job_key(current.buffered_job),
                    expected_rev: current.rev,
                    schedule_id: id.to_string(),
                    workflow_id: current.workflow_id.to_string(),
                    live_job_id: job_text(current.live_job),
                    backfill_job_id: job_text(current.backfill_job),
                    buffered_job_id: job_text(current.buffered_job),
                })
                .await?;
            Ok(applied(written, id)?.then_some(()))
        })
        .await
    }

    /// Adds an extra run of a schedule, due now, beside its regular chain, as its overlap policy allows
    /// while a run is under way: `skip` refuses (`AlreadyRunning`), `buffer_one` lets it wait for the end.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn trigger_schedule(&self, id: Uuid) -> Result<Triggered> {
        let schedule = self.inspect().schedule(id).await?;
        let job = JobId::manual(id);
        let now = self.clock.now();
        let keys = self.keys.of(id);
        let triggered = self
            .run(TriggerSchedule {
                schedule: keys.schedule(id),
                job: keys.job(&job),
                delayed: keys.delayed(&schedule.queue),
                schedule_id: id.to_string(),
                job_id: job.to_string(),
                queue: schedule.queue.to_string(),
                now_ms: millis(now),
                wakeup_channel: self.keys.wakeup_channel(),
            })
            .await?;
        match triggered {
            TriggerAnswer::Enqueued => Ok(Triggered { job, waiting: false }),
            TriggerAnswer::Waiting => Ok(Triggered { job, waiting: true }),
            TriggerAnswer::Refused => Err(Error::AlreadyRunning(id)),
            TriggerAnswer::AlreadyWaiting => Err(Error::Conflict(format!(
                "schedule {id} has a run under way and a triggered run already waiting for it (overlap buffer_one)"
            ))),
            TriggerAnswer::Missing => Err(Error::not_found("schedule", id)),
        }
    }

    /// Queues one run per occurrence of the schedule from `from` to `to` (both included, `to` not after now),
    /// run one at a time in order beside the regular chain, under ids `sched-{id}-bf-{epoch seconds}`.
    #[tracing::instrument(skip_all, fields(schedule.id = %id))]
    pub async fn backfill_schedule(&self, id: Uuid, from: Timestamp, to: Timestamp) -> Result<Backfill> {
        if to < from {
            return Err(Error::invalid("to", "to must not be before from"));
        }
        // An occurrence to come runs in the regular chain: backfilled too, it would run twice.
        let now = self.clock.now();
        if to > now {
            return Err(Error::invalid(
                "to",
                format!(
                    "to ({}) is in the future: a backfill runs occurrences that have passed, up to now ({}); the \
                     schedule runs the ones to come itself (to run one now as well, trigger it)",
                    rfc3339(to),
                    rfc3339(now)
                ),
            ));
        }
        let schedule = self.inspect().schedule(id).await?;
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
        let keys = self.keys.of(id);
        let answer = self
            .run(BackfillSchedule {
                schedule: keys.schedule(id),
                backfill: keys.backfill(id),
                executions: keys.executions(id),
                delayed: keys.delayed(&schedule.queue),
                jobs: jobs.iter().map(|job| keys.job(job)).collect(),
                schedule_id: id.to_string(),
                queue: schedule.queue.to_string(),
                now_ms: millis(self.clock.now()),
                wakeup_channel: self.keys.wakeup_channel(),
                occurrences: jobs
                    .iter()
                    .zip(&occurrences)
                    .flat_map(|(job, at)| {
                        [job.to_string(), ExecutionId { job: *job, attempt: 1 }.to_string(), rfc3339(*at)]
                    })
                    .collect(),
            })
            .await?;
        match answer {
            BackfillAnswer::Queued { queued, already_run } => {
                Ok(Backfill { queued, already_run, job_ids: jobs.iter().map(ToString::to_string).collect() })
            }
            BackfillAnswer::Missing => Err(Error::not_found("schedule", id)),
        }
    }
}

/// Whether a revision-checked write landed (`false`: the revision was stale, plan again).
fn applied(written: ScheduleWritten, id: Uuid) -> Result<bool> {
    match written {
        ScheduleWritten::Written => Ok(true),
        ScheduleWritten::Stale => Ok(false),
        ScheduleWritten::Missing => Err(Error::not_found("schedule", id)),
        ScheduleWritten::UnknownWorkflow => {
            Err(Error::unexpected_reply("schedule script", format!("unexpected unknown workflow for schedule {id}")))
        }
    }
}

/// A job id as a script argument: `''` for none.
pub(super) fn job_text(job: Option<JobId>) -> String {
    job.map(|job| job.to_string()).unwrap_or_default()
}
