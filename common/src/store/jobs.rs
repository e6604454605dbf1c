//! Jobs: claim with a lease, start, renew the lease, cancel, finish (which moves the schedule on), and
//! hand back. A finish is planned by `Schedule::settled` and written by one owner-checked script.

use std::time::Duration;

use jiff::Timestamp;
use uuid::Uuid;

use super::{
    BATCH, CANCEL_AS_CANCELLED, CANCEL_AS_FAILURE, Store, counts_as_run, duration_ms,
    finish::{FinishOutcome, Holder},
    lease_until,
};
use crate::{
    Error, Result,
    model::{
        Admission, Execution, ExecutionId, ExecutionState, JobId, Outcome, QueueName, Schedule, from_millis, millis,
        rfc3339,
    },
    record::{decode_due, decode_run, decode_schedule, is_run},
    scripts::{
        CancelAnswer, ClaimAnswer, LeaseRenewal, RequeueAnswer, StartAnswer,
        calls::{CancelExecution, ClaimJobs, RenewLease, RequeueJob, StartJobs},
        flag,
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
            job_args.extend([job.to_string(), queue.to_string(), flag(counts_as_run(job)), ExecutionId::prefix(job)]);
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
                StartAnswer::Started { execution_id, job: job_fields, schedule, holds_slot, workflow_version } => {
                    let schedule = if is_run(&job_fields) {
                        decode_run(job, &job_fields).map_err(|detail| Error::corrupt(self.keys.job(job), detail))?
                    } else {
                        decode_schedule(&schedule)
                            .map_err(|detail| Error::corrupt(self.keys.schedule(job.schedule()), detail))?
                    };
                    let scheduled_for =
                        decode_due(&job_fields).map_err(|detail| Error::corrupt(self.keys.job(job), detail))?;
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
