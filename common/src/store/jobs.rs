//! Jobs: claim with a lease, start, renew the lease, cancel, finish (which moves the schedule on), and
//! hand back. A finish is planned by `Schedule::settled` and written by one owner-checked script.

use std::{sync::atomic::Ordering, time::Duration};

use futures_util::future::try_join;
use jiff::Timestamp;
use uuid::Uuid;

use super::{
    BATCH, CANCEL_AS_CANCELLED, CANCEL_AS_FAILURE, Store, counts_as_run, duration_ms,
    finish::{FinishOutcome, Holder, JobEnd, Placed, ShardFinishes, in_order, placed},
    lease_until,
};
use crate::{
    Error, Result,
    keys::ShardKeys,
    model::{
        Admission, Execution, ExecutionId, ExecutionState, JobId, Outcome, QueueName, Schedule, from_millis, millis,
        rfc3339,
    },
    record::{decode_due, decode_run, decode_schedule, execution_json, is_run},
    scripts::{
        CancelAnswer, ClaimAnswer, LeaseRenewal, RequeueAnswer, StartAnswer,
        calls::{CancelExecution, ClaimJobs, RenewLease, RequeueJob},
    },
};

/// The claim's script, as errors name it.
const CLAIM_SCRIPT: &str = "claim_jobs.lua";

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
#[derive(Debug, Clone)]
pub enum Claim {
    /// The jobs popped, at most as many as asked for and at least one, each with what became of it: most
    /// started, leased to the worker; some wait or were dropped.
    Claimed(Vec<(JobId, Start)>),
    /// Nothing due; the earliest due time of the queues, if any job waits.
    Empty { next_due: Option<Timestamp> },
}

/// A started job: everything a worker needs to run it, renew its lease and finish it.
#[derive(Debug, Clone)]
pub struct StartedJob {
    pub job: JobId,
    pub queue: QueueName,
    pub execution: Execution,
    /// When the claim started it (its execution's `started_at`).
    pub started_at: Timestamp,
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

/// What [`Store::cancel_execution`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The worker running the execution was asked to stop it.
    Requested,
    /// The execution had not started: it is recorded `cancelled` and will not run.
    BeforeStart,
}

/// What became of one job [`Store::claim_jobs`] popped.
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
    /// The job's record or its schedule's does not decode: the job is not run; it is handed back when its
    /// lease expires.
    Unreadable {
        key: String,
        detail: String,
    },
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
    /// Claims and starts up to `count` due jobs (at most [`BATCH`]) of the claimant's queues, in priority
    /// order, in one round trip: each is leased for the claimant's lease, its delivery counted and its
    /// execution marked running. A job whose workflow has no free slot, or calls a handler `claimant` lacks,
    /// goes back to wait instead, without counting. A started job runs once [`Store::admit`] lets it.
    ///
    /// With several shards, each call claims from one shard: the next in turn that has a due job, so that
    /// workers (each starting at a shard of its own) spread their claims and starve none.
    pub async fn claim_jobs(&self, claimant: &Claimant, count: usize) -> Result<Claim> {
        Ok(self.finish_and_claim(claimant, count, &[]).await?.1)
    }

    /// Records the ends of the claimant's jobs, as [`Store::finish_jobs`] does, and claims as
    /// [`Store::claim_jobs`] does, in the same round trip: the ends of the shard the claim tries first are
    /// written by the claim's own call, before it claims; the others in calls of their own sent with it. So a
    /// busy worker spends one call per batch on ending jobs and starting the next. One outcome per end, in
    /// order.
    #[tracing::instrument(skip_all, fields(count, ends = ends.len()))]
    pub async fn finish_and_claim(
        &self,
        claimant: &Claimant,
        count: usize,
        ends: &[JobEnd],
    ) -> Result<(Vec<FinishOutcome>, Claim)> {
        let now = self.clock.now();
        let (calls, planned) = self.plan_ends(ends, now).await?;
        let first = self.next_shard.load(Ordering::Relaxed);
        let (mut along, mut apart, mut apart_positions) = (ShardFinishes::default(), Vec::new(), Vec::new());
        for (index, call) in calls.into_iter().enumerate() {
            if self.keys.shard_of(call.id) == first {
                along.push(index, call);
            } else {
                apart_positions.push(index);
                apart.push(call);
            }
        }
        let ((ended, claim), apart_answers) =
            try_join(self.claim_round(claimant, count, first, along), self.apply_finishes(apart, now)).await?;
        let answered = ended.into_iter().chain(apart_positions.into_iter().zip(apart_answers));
        let answers = in_order(ends.len(), answered, CLAIM_SCRIPT)?;
        Ok((self.conclude_ends(ends, &planned, answers).await?, claim))
    }

    /// Claims from shard `first`, whose call also writes `finishes`, then from the next shards in turn until
    /// one has a due job; the finishes' answers placed by position, and the claim.
    async fn claim_round(
        &self,
        claimant: &Claimant,
        count: usize,
        first: usize,
        mut finishes: ShardFinishes,
    ) -> Result<(Vec<Placed>, Claim)> {
        let shards = self.keys.shard_count();
        let mut ended = Vec::new();
        let mut next_due: Option<Timestamp> = None;
        for turn in 0..shards {
            let shard = (first + turn) % shards;
            let finishes = std::mem::take(&mut finishes);
            let (answers, claim) = self.claim_from(&self.keys.shard(shard), claimant, count, finishes).await?;
            ended.extend(answers);
            match claim {
                Claim::Claimed(claimed) => {
                    self.next_shard.store((shard + 1) % shards, Ordering::Relaxed);
                    return Ok((ended, Claim::Claimed(claimed)));
                }
                Claim::Empty { next_due: Some(due) } => next_due = Some(next_due.map_or(due, |next| next.min(due))),
                Claim::Empty { next_due: None } => {}
            }
        }
        Ok((ended, Claim::Empty { next_due }))
    }

    /// One claim on one shard, writing `finishes` (of that shard) first.
    async fn claim_from(
        &self,
        keys: &ShardKeys,
        claimant: &Claimant,
        count: usize,
        finishes: ShardFinishes,
    ) -> Result<(Vec<Placed>, Claim)> {
        let now = self.clock.now();
        let ShardFinishes { jobs, job_keys, job_args, runs, run_keys, run_args } = finishes;
        let mut queue_and_finish_keys: Vec<String> = claimant
            .queues
            .iter()
            .flat_map(|queue| [keys.delayed(queue), keys.ready(queue), keys.running(queue), keys.leases(queue)])
            .collect();
        queue_and_finish_keys.extend(job_keys);
        queue_and_finish_keys.extend(run_keys);
        let mut queue_names_and_finish_args: Vec<String> = claimant.queues.iter().map(ToString::to_string).collect();
        queue_names_and_finish_args.extend(job_args);
        queue_names_and_finish_args.extend(run_args);
        let retention = self.retention_args(keys, now);
        let reply = self
            .run(ClaimJobs {
                workflow_requirements: keys.workflow_requirements(),
                execution_index: keys.execution_index(),
                handler_waits: keys.handler_waits(),
                run_workflows: keys.run_workflows(),
                run_executions: keys.run_executions(),
                queue_and_finish_keys,
                now_ms: millis(now),
                now_at: rfc3339(now),
                lease_until_ms: lease_until(now, claimant.lease),
                worker_id: claimant.id.clone(),
                count: count.clamp(1, BATCH),
                batch: BATCH,
                handlers: format!(",{},", claimant.handlers.join(",")),
                job_pattern: keys.job_pattern(),
                schedule_pattern: keys.pattern(|keys| keys.schedule(Uuid::nil())),
                execution_times_pattern: keys.pattern(|keys| keys.execution_times(Uuid::nil())),
                slots_pattern: keys.pattern(|keys| keys.workflow_slots(Uuid::nil())),
                waiting_pattern: keys.pattern(|keys| keys.workflow_waiting(Uuid::nil())),
                workflow_executions_pattern: keys.pattern(|keys| keys.workflow_executions(Uuid::nil())),
                execution_separator: ExecutionId::SEPARATOR.to_string(),
                wakeup_channel: self.keys.wakeup_channel(),
                handler_retry_ms: duration_ms(HANDLER_RETRY),
                keep: retention.keep,
                drop_before_ms: retention.drop_before_ms,
                retention_ms: retention.retention_ms,
                delayed_pattern: retention.delayed_pattern,
                trim_batch: BATCH,
                job_ends: jobs.len(),
                run_ends: runs.len(),
                queue_names_and_finish_args,
            })
            .await?;
        let mut ended = placed(jobs, reply.job_ends, CLAIM_SCRIPT)?;
        ended.extend(placed(runs, reply.run_ends, CLAIM_SCRIPT)?);
        Ok((ended, self.started_from(keys, claimant, now, reply.claim).await?))
    }

    /// The claim's answer as the worker takes it: each job popped with what became of it.
    async fn started_from(
        &self,
        keys: &ShardKeys,
        claimant: &Claimant,
        now: Timestamp,
        answer: ClaimAnswer,
    ) -> Result<Claim> {
        let claimed = match answer {
            ClaimAnswer::Empty { next_due_ms } => return Ok(Claim::Empty { next_due: next_due_ms.map(from_millis) }),
            ClaimAnswer::Claimed(claimed) => claimed,
        };
        let mut starts = Vec::with_capacity(claimed.len());
        let mut unreadable = Vec::new();
        for (job, queue_index, answer) in claimed {
            let queue = queue_index.checked_sub(1).and_then(|index| claimant.queues.get(index)).cloned();
            let queue =
                queue.ok_or_else(|| Error::unexpected_reply(CLAIM_SCRIPT, format!("queue index {queue_index}")))?;
            let start = match answer {
                StartAnswer::Started { execution_id, job: job_fields, schedule, holds_slot, workflow_version } => {
                    let decoded = if is_run(&job_fields) {
                        decode_run(&job, &queue, &job_fields).map_err(|detail| (keys.job(&job), detail))
                    } else {
                        decode_schedule(job.schedule(), &schedule)
                            .map_err(|detail| (keys.schedule(job.schedule()), detail))
                    };
                    let decoded = decoded.and_then(|schedule| {
                        let due = decode_due(&job_fields).map_err(|detail| (keys.job(&job), detail))?;
                        Ok((schedule, due))
                    });
                    let (schedule, scheduled_for) = match decoded {
                        Ok(decoded) => decoded,
                        Err((key, detail)) => {
                            // Not run: its lease runs out and it is handed back, to run once the record is
                            // repaired. The other jobs of the claim run.
                            unreadable.push((key.clone(), detail.clone()));
                            starts.push((job, Start::Unreadable { key, detail }));
                            continue;
                        }
                    };
                    let started_at = from_millis(millis(now));
                    let mut execution = Execution::running(
                        execution_id.parse()?,
                        job.schedule(),
                        schedule.workflow_id,
                        scheduled_for,
                        jitter_of(&job, &schedule, scheduled_for),
                        started_at,
                        claimant.id.clone(),
                    );
                    execution.workflow_version = workflow_version;
                    let started = StartedJob {
                        job,
                        queue,
                        execution,
                        started_at,
                        schedule,
                        lease: claimant.lease,
                        workflow_version,
                        holds_slot,
                    };
                    Start::Started(Box::new(started))
                }
                StartAnswer::Dropped => Start::Dropped,
                StartAnswer::MissingHandler(name) => Start::MissingHandler(name),
                StartAnswer::WaitingForSlot => Start::WaitingForSlot,
            };
            starts.push((job, start));
        }
        if !unreadable.is_empty() {
            self.note_corrupt_records(keys, unreadable).await?;
        }
        Ok(Claim::Claimed(starts))
    }

    /// Decides, in Rust where the rules live, whether a job the claim started runs (the worker asks before
    /// it runs one, in the job's own task, so the claim loop never waits for it): an occurrence that may no
    /// longer run is recorded as skipped and its schedule moves on; with overlap `allow` the next occurrence
    /// is enqueued as this run starts. `Started` again when it runs.
    pub async fn admit(&self, started: StartedJob) -> Result<Start> {
        let now = started.started_at;
        let job = started.job;
        let scheduled_for = started.execution.scheduled_for;
        if let Admission::Skip(reason) = started.schedule.admission(&job, scheduled_for, now) {
            let mut execution = started.execution.clone();
            execution.close(ExecutionState::Skipped, now, Some(reason.to_string()));
            let outcome = Outcome::Skipped(reason);
            return match self.settle(&started, &execution, &outcome, Holder::Worker { expired_before: None }).await? {
                FinishOutcome::Lost => Ok(Start::Lost),
                FinishOutcome::Gone => Ok(Start::Dropped),
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
        let keys = self.keys.of_job(&started.job);
        let renewed = self
            .run(RenewLease {
                running: keys.running(&started.queue),
                leases: keys.leases(&started.queue),
                workflow_slots: keys.workflow_slots(started.schedule.workflow_id),
                job: keys.job(&started.job),
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
    /// a failure only with `count_as_failure`. A queued ad-hoc run (one no worker took yet, such as a run
    /// waiting for its `run_at`) is cancelled at once: it leaves its queue and never runs. Conflict when the
    /// execution is neither.
    #[tracing::instrument(skip_all, fields(execution.id = %id))]
    pub async fn cancel_execution(&self, id: &str, count_as_failure: bool) -> Result<Cancelled> {
        let parsed: ExecutionId = id.parse().map_err(|_| Error::not_found("execution", id))?;
        // A worker may take a queued run between the two steps: the request then goes to it.
        let keys = self.keys.of_job(&parsed.job);
        for _ in 0..2 {
            let requested = self
                .run(CancelExecution {
                    job: keys.job(&parsed.job),
                    executions: keys.executions(parsed.job.schedule()),
                    run_executions: keys.run_executions(),
                    execution_id: id.to_string(),
                    mode: if count_as_failure { CANCEL_AS_FAILURE } else { CANCEL_AS_CANCELLED }.to_string(),
                    cancel_channel: self.keys.cancel_channel(),
                })
                .await?;
            match requested {
                CancelAnswer::Requested => return Ok(Cancelled::Requested),
                CancelAnswer::NotRunning => break,
                CancelAnswer::Missing => {}
            }
            let Some((run, queued)) = self.inspect().queued_run(&parsed).await? else { break };
            if self.cancel_queued_run(run, queued).await? != FinishOutcome::Lost {
                return Ok(Cancelled::BeforeStart);
            }
        }
        let execution = self.inspect().execution(id).await?;
        Err(Error::Conflict(format!(
            "execution {id} is {}; only a running execution or a queued ad-hoc run can be cancelled{}",
            execution.state.as_str(),
            if execution.started_at.is_none() { " (pause its schedule to hold back its next run)" } else { "" }
        )))
    }

    /// Ends a queued ad-hoc run before it starts, as `cancelled`: `Lost` when a worker took it meanwhile.
    pub(super) async fn cancel_queued_run(&self, run: Schedule, mut execution: Execution) -> Result<FinishOutcome> {
        let now = self.clock.now();
        execution.close(ExecutionState::Cancelled, now, Some("cancelled before it started".to_string()));
        let started = StartedJob {
            job: execution.id.job,
            queue: run.queue.clone(),
            execution: execution.clone(),
            started_at: now,
            schedule: run,
            lease: Duration::ZERO,
            workflow_version: None,
            holds_slot: false,
        };
        let outcome = self.settle(&started, &execution, &Outcome::Cancelled, Holder::Pending).await?;
        if outcome != FinishOutcome::Lost {
            tracing::info!(execution.id = %execution.id, "queued run {} cancelled before it started", execution.id);
        }
        Ok(outcome)
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
        let keys = self.keys.of_job(job);
        let requeued = self
            .run(RequeueJob {
                job: keys.job(job),
                running: keys.running(queue),
                leases: keys.leases(queue),
                ready: keys.ready(queue),
                executions: keys.executions(schedule_id),
                schedule: keys.schedule(schedule_id),
                delayed: keys.delayed(queue),
                run_executions: keys.run_executions(),
                job_id: job.to_string(),
                owner: owner.to_string(),
                expired_before_ms: lease_expired_before.map_or(0, millis),
                execution_id: closed.map(|execution| execution.id.to_string()).unwrap_or_default(),
                execution_json: closed.map(execution_json).transpose()?.unwrap_or_default(),
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
