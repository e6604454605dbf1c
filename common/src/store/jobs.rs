//! Jobs: claim with a lease, start, renew the lease, cancel, finish (which moves the schedule on), and
//! hand back. A finish is planned by `Schedule::settled` and written by one owner-checked script.

use std::time::Duration;

use jiff::Timestamp;
use uuid::Uuid;

use super::{
    BATCH, CANCEL_AS_CANCELLED, CANCEL_AS_FAILURE, MAX_PLAN_ATTEMPTS, Store, contended, counts_as_run, duration_ms,
    lease_until, schedules::job_text,
};
use crate::{
    Error, Result,
    model::{
        Admission, Execution, ExecutionId, ExecutionState, JobId, Outcome, QueueName, Schedule, ScheduleStatus,
        from_millis, millis, rfc3339,
    },
    record::{ScheduleRecord, decode_schedule},
    scripts::{
        CancelAnswer, ClaimAnswer, Finished, LeaseRenewal, RequeueAnswer, StartAnswer,
        calls::{CancelExecution, ClaimJobs, FinishJob, RenewLease, RequeueJob, StartJobs},
    },
};

/// How long a job waits before it is offered again after a worker lacking one of its handlers took it.
const HANDLER_RETRY: Duration = Duration::from_secs(2);

/// The worker taking jobs: its name, the queues it consumes in priority order, the handlers it offers, and
/// the lease it holds jobs for (renewed while they run).
#[derive(Debug, Clone)]
pub struct Claimant {
    pub id: String,
    pub queues: Vec<QueueName>,
    pub handlers: Vec<String>,
    pub lease: Duration,
}

/// What [`Store::claim_jobs`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Jobs, each with its queue, now leased to the worker; at most as many as asked for, at least one.
    Claimed(Vec<(JobId, QueueName)>),
    /// Nothing due; the earliest due time of the queues, if any job waits.
    Empty { next_due: Option<Timestamp> },
}

/// A started job: everything a worker needs to run it, renew its lease and finish it.
#[derive(Debug, Clone)]
pub struct StartedJob {
    pub job: JobId,
    pub queue: QueueName,
    pub execution: Execution,
    /// The schedule as it was when the job started; the finish plans from it.
    pub schedule: Schedule,
    /// How long the job stays owned without a renewal.
    pub lease: Duration,
    /// The version of the workflow to run, as the job started; `None` for a workflow saved before versions
    /// were reported at start (its current version is loaded then).
    pub workflow_version: Option<u32>,
    /// Whether the job took a slot of its workflow's `max_concurrency`, renewed with its lease.
    pub holds_slot: bool,
}

/// What [`Store::start_jobs`] found for one job.
#[derive(Debug, Clone)]
pub enum Start {
    Started(Box<StartedJob>),
    /// The job's schedule or record is gone; the claim was dropped.
    Dropped,
    /// Another worker holds the job now.
    Lost,
    /// The job was not run: its occurrence was skipped and recorded as such, and the schedule moved on.
    Skipped(crate::model::SkipReason),
    /// The workflow's `max_concurrency` slots are all taken: the job waits for one, not counted as a delivery.
    WaitingForSlot,
    /// The workflow calls this handler, which the claimant lacks: the job waits for another worker.
    MissingHandler(String),
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

/// Who holds the job a settle ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    /// The worker named in the execution; with `expired_before`, only if its lease expired before then (the
    /// reconciler ending an abandoned job).
    Worker { expired_before: Option<Timestamp> },
    /// Nobody: the job is still delayed or ready (the reconciler skipping an occurrence).
    Pending,
}

impl Store {
    /// Claims up to `count` due jobs (at most [`BATCH`]) of the claimant's queues, in priority order, each
    /// leased for its lease, in one round trip.
    pub async fn claim_jobs(&self, claimant: &Claimant, count: usize) -> Result<Claim> {
        let now = self.clock.now();
        let queue_keys = claimant
            .queues
            .iter()
            .flat_map(|queue| {
                [self.keys.delayed(queue), self.keys.ready(queue), self.keys.running(queue), self.keys.leases(queue)]
            })
            .collect();
        let answer = self
            .run(ClaimJobs {
                queue_keys,
                now_ms: millis(now),
                lease_until_ms: lease_until(now, claimant.lease),
                worker_id: claimant.id.clone(),
                count: count.clamp(1, BATCH),
                batch: BATCH,
            })
            .await?;
        match answer {
            ClaimAnswer::Empty { next_due_ms } => Ok(Claim::Empty { next_due: next_due_ms.map(from_millis) }),
            ClaimAnswer::Claimed(claimed) => claimed
                .into_iter()
                .map(|(job, queue_index)| {
                    let queue = queue_index.checked_sub(1).and_then(|index| claimant.queues.get(index)).cloned();
                    let queue =
                        queue.ok_or_else(|| Error::corrupt("claim_jobs.lua", format!("queue index {queue_index}")))?;
                    Ok((job, queue))
                })
                .collect::<Result<_>>()
                .map(Claim::Claimed),
        }
    }

    /// Starts claimed jobs in one round trip: counts each delivery and marks each execution running. A job
    /// whose workflow has no free slot, or calls a handler `claimant` lacks, goes back to wait instead,
    /// without counting. One answer per job, in order.
    #[tracing::instrument(skip_all, fields(jobs = jobs.len()))]
    pub async fn start_jobs(&self, claimant: &Claimant, jobs: &[(JobId, QueueName)]) -> Result<Vec<Start>> {
        let now = self.clock.now();
        let mut job_keys = Vec::with_capacity(jobs.len() * 6);
        let mut job_args = Vec::with_capacity(jobs.len() * 4);
        for (job, queue) in jobs {
            let schedule_id = job.schedule();
            job_keys.extend([
                self.keys.job(job),
                self.keys.schedule(schedule_id),
                self.keys.execution_times(schedule_id),
                self.keys.running(queue),
                self.keys.leases(queue),
                self.keys.delayed(queue),
            ]);
            job_args.extend([
                job.to_string(),
                queue.to_string(),
                if counts_as_run(job) { "1" } else { "0" }.to_string(),
                ExecutionId::prefix(job),
            ]);
        }
        let answers = self
            .run(StartJobs {
                workflow_requirements: self.keys.workflow_requirements(),
                execution_index: self.keys.execution_index(),
                job_keys,
                worker_id: claimant.id.clone(),
                now_ms: millis(now),
                now_at: rfc3339(now),
                lease_until_ms: lease_until(now, claimant.lease),
                handlers: format!(",{},", claimant.handlers.join(",")),
                slots_pattern: self.keys.pattern(|keys| keys.workflow_slots(Uuid::nil())),
                waiting_pattern: self.keys.pattern(|keys| keys.workflow_waiting(Uuid::nil())),
                workflow_executions_pattern: self.keys.pattern(|keys| keys.workflow_executions(Uuid::nil())),
                wakeup_channel: self.keys.wakeup_channel(),
                handler_retry_ms: duration_ms(HANDLER_RETRY),
                job_args,
            })
            .await?;
        if answers.len() != jobs.len() {
            return Err(Error::corrupt("start_jobs.lua", format!("{} answers for {} jobs", answers.len(), jobs.len())));
        }
        let mut starts = Vec::with_capacity(jobs.len());
        for ((job, queue), answer) in jobs.iter().zip(answers) {
            starts.push(match answer {
                StartAnswer::Started { execution_id, due_at, schedule, holds_slot, workflow_version } => {
                    let schedule = decode_schedule(&schedule)
                        .map_err(|detail| Error::corrupt(self.keys.schedule(job.schedule()), detail))?;
                    let scheduled_for: Timestamp =
                        due_at.parse().map_err(|_| Error::corrupt(self.keys.job(job), format!("due_at {due_at:?}")))?;
                    let execution = Execution::running(
                        execution_id.parse()?,
                        job.schedule(),
                        schedule.workflow_id,
                        scheduled_for,
                        jitter_of(job, &schedule, scheduled_for),
                        from_millis(millis(now)),
                        claimant.id.clone(),
                    );
                    let started = StartedJob {
                        job: *job,
                        queue: queue.clone(),
                        execution,
                        schedule,
                        lease: claimant.lease,
                        workflow_version,
                        holds_slot,
                    };
                    self.admit(started, now).await?
                }
                StartAnswer::Dropped => Start::Dropped,
                StartAnswer::Lost => Start::Lost,
                StartAnswer::MissingHandler(name) => Start::MissingHandler(name),
                StartAnswer::WaitingForSlot => Start::WaitingForSlot,
            });
        }
        Ok(starts)
    }

    /// Decides, in Rust where the rules live, whether a job the script started runs: an occurrence that may no
    /// longer run is recorded as skipped and its schedule moves on; with overlap `allow` the next occurrence
    /// is enqueued as this run starts.
    async fn admit(&self, started: StartedJob, now: Timestamp) -> Result<Start> {
        let job = started.job;
        let scheduled_for = started.execution.scheduled_for;
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
            // Should this fail, the run's finish plans the next occurrence instead, so the error is only logged.
            let advanced = self
                .change_schedule(job.schedule(), |current| async move {
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

    /// Extends the lease of a started job, and of the workflow slot it holds, by the job's lease, and reports
    /// a cancel request (the fallback for a worker that missed the cancel message).
    pub async fn renew_lease(&self, started: &StartedJob) -> Result<Renewal> {
        let renewed = self
            .run(RenewLease {
                running: self.keys.running(&started.queue),
                leases: self.keys.leases(&started.queue),
                workflow_slots: self.keys.workflow_slots(started.schedule.workflow_id),
                job: self.keys.job(&started.job),
                job_id: started.job.to_string(),
                worker_id: started.execution.worker_id.clone(),
                lease_until_ms: lease_until(self.clock.now(), started.lease),
                holds_slot: started.holds_slot,
            })
            .await?;
        Ok(match renewed {
            LeaseRenewal::Held => Renewal::Held,
            LeaseRenewal::Cancel => Renewal::CancelRequested { count_as_failure: false },
            LeaseRenewal::CancelAsFailure => Renewal::CancelRequested { count_as_failure: true },
            LeaseRenewal::Lost => Renewal::Lost,
        })
    }

    /// Asks the worker running execution `id` to stop it; it ends as `cancelled`, counted by its schedule as
    /// a failure only with `count_as_failure`. Conflict when the execution is not running.
    #[tracing::instrument(skip_all, fields(execution.id = %id))]
    pub async fn cancel_execution(&self, id: &str, count_as_failure: bool) -> Result<()> {
        let parsed: ExecutionId = id.parse().map_err(|_| Error::not_found("execution", id))?;
        let requested = self
            .run(CancelExecution {
                job: self.keys.job(&parsed.job),
                executions: self.keys.executions(parsed.job.schedule()),
                execution_id: id.to_string(),
                mode: if count_as_failure { CANCEL_AS_FAILURE } else { CANCEL_AS_CANCELLED }.to_string(),
                cancel_channel: self.keys.cancel_channel(),
            })
            .await?;
        match requested {
            CancelAnswer::Requested => Ok(()),
            CancelAnswer::Missing => Err(Error::not_found("execution", id)),
            CancelAnswer::NotRunning => Err(Error::Conflict(format!(
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
    pub(super) async fn settle(
        &self,
        started: &StartedJob,
        execution: &Execution,
        outcome: &Outcome,
        holder: Holder,
    ) -> Result<FinishOutcome> {
        let schedule_id = started.job.schedule();
        let workflow_id = started.schedule.workflow_id;
        let is_backfill = matches!(started.job, JobId::Backfill { .. });
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
            let next_job = match (is_backfill, current.backfill_job == Some(started.job)) {
                (true, true) => self.inspect().backfill_head(schedule_id).await?.map(|job| (job, now)),
                (true, false) => None,
                (false, _) => settlement.next_job,
            };
            let (next_due, next_due_at) = match next_job {
                Some((JobId::Backfill { at, .. }, due)) => (due, rfc3339(from_millis(at.saturating_mul(1000)))),
                Some((_, due)) => (due, rfc3339(due)),
                None => (now, rfc3339(now)),
            };
            // A job key for each job the script may touch; the finished job's key stands in for one it has not.
            let job_key = |job: Option<JobId>| self.keys.job(&job.unwrap_or(started.job));
            let (owner, expired_before) = match holder {
                Holder::Worker { expired_before } => (execution.worker_id.clone(), expired_before),
                Holder::Pending => (String::new(), None),
            };
            let finished = self
                .run(FinishJob {
                    job: self.keys.job(&started.job),
                    running: self.keys.running(&started.queue),
                    leases: self.keys.leases(&started.queue),
                    schedule: self.keys.schedule(schedule_id),
                    executions: self.keys.executions(schedule_id),
                    execution_times: self.keys.execution_times(schedule_id),
                    old_status_index: self.status_index(&current),
                    status_index: self.status_index(&next),
                    next_job: job_key(next_job.map(|(job, _)| job)),
                    delayed: self.keys.delayed(&next.queue),
                    ready: self.keys.ready(&next.queue),
                    dropped_job: job_key(settlement.dropped_job),
                    backfill: self.keys.backfill(schedule_id),
                    workflow_slots: self.keys.workflow_slots(workflow_id),
                    workflow_waiting: self.keys.workflow_waiting(workflow_id),
                    execution_index: self.keys.execution_index(),
                    workflow_executions: self.keys.workflow_executions(workflow_id),
                    job_id: started.job.to_string(),
                    pending: matches!(holder, Holder::Pending),
                    owner,
                    execution_id: execution.id.to_string(),
                    execution_json: serde_json::to_string(execution)?,
                    now_ms: millis(now),
                    expired_before_ms: expired_before.map_or(0, millis),
                    expected_rev: current.rev,
                    keep: self.retention.keep,
                    drop_before_ms: millis(now) - self.retention.max_age.as_millis() as i64,
                    retention_ms: self.retention.max_age.as_millis() as i64,
                    schedule_id: schedule_id.to_string(),
                    created_ms: millis(next.created_at),
                    next_job_id: job_text(next_job.map(|(job, _)| job)),
                    next_queue: next.queue.to_string(),
                    next_due_ms: millis(next_due),
                    next_due_at,
                    wakeup_channel: self.keys.wakeup_channel(),
                    counted_as_run: counts_as_run(&started.job) && matches!(holder, Holder::Worker { .. }),
                    dropped_job_id: job_text(settlement.dropped_job),
                    is_backfill,
                    delayed_pattern: self.keys.pattern(|keys| keys.delayed(&QueueName::placeholder())),
                    expire_records: current.ad_hoc && next.status != ScheduleStatus::Active,
                    holds_slot: started.holds_slot,
                    trim_batch: BATCH,
                    record: ScheduleRecord::of(&next),
                })
                .await?;
            match finished {
                Finished::Recorded => {
                    log_settlement(&started.job, &next, next_job);
                    return Ok(FinishOutcome::Recorded);
                }
                Finished::RecordedWithoutSchedule => return Ok(FinishOutcome::RecordedWithoutSchedule),
                Finished::Lost => return Ok(FinishOutcome::Lost),
                Finished::Stale => continue,
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

    /// Hands `job` back from `owner` to the front of its ready list, closing its abandoned execution as
    /// `closed` says; with `lease_expired_before`, only if its lease is still expired then.
    pub(super) async fn requeue(
        &self,
        job: &JobId,
        queue: &QueueName,
        owner: &str,
        closed: Option<&Execution>,
        lease_expired_before: Option<Timestamp>,
    ) -> Result<bool> {
        let schedule_id = job.schedule();
        let requeued = self
            .run(RequeueJob {
                job: self.keys.job(job),
                running: self.keys.running(queue),
                leases: self.keys.leases(queue),
                ready: self.keys.ready(queue),
                executions: self.keys.executions(schedule_id),
                schedule: self.keys.schedule(schedule_id),
                delayed: self.keys.delayed(queue),
                job_id: job.to_string(),
                owner: owner.to_string(),
                expired_before_ms: lease_expired_before.map_or(0, millis),
                execution_id: closed.map(|execution| execution.id.to_string()).unwrap_or_default(),
                execution_json: closed.map(serde_json::to_string).transpose()?.unwrap_or_default(),
                now_ms: millis(self.clock.now()),
                wakeup_channel: self.keys.wakeup_channel(),
                counts_as_run: counts_as_run(job),
            })
            .await?;
        Ok(requeued != RequeueAnswer::Lost)
    }
}

/// The jitter in the due time of a schedule's live first attempt at an occurrence.
pub(super) fn jitter_of(job: &JobId, schedule: &Schedule, due: Timestamp) -> Option<u64> {
    let first_attempt = matches!(job, JobId::Regular { retry: 0, .. }) && schedule.live_job == Some(*job);
    let slot = schedule.slot_at.filter(|slot| first_attempt && schedule.jitter_seconds > 0 && *slot <= due)?;
    u64::try_from(due.duration_since(slot).as_millis()).ok()
}

fn log_settlement(job: &JobId, schedule: &Schedule, next_job: Option<(JobId, Timestamp)>) {
    match next_job {
        Some((next, due)) => tracing::info!(job.id = %job, schedule.id = %schedule.id, next_job.id = %next,
            "job {job} ended; next job {next} due at {due}"),
        None => tracing::info!(job.id = %job, schedule.id = %schedule.id, schedule.status = schedule.status.as_str(),
            "job {job} ended; schedule is {}", schedule.status.as_str()),
    }
}
