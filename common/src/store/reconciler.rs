//! The reconciler pass (`docs/architecture.md`): hand back jobs whose lease expired, promote overdue jobs, skip
//! occurrences that may no longer run, re-create lost jobs, and trim the history indexes by age.

use std::{collections::HashSet, time::Duration};

use jiff::Timestamp;

use super::{
    BATCH, MAX_DELIVERIES, Store, duration_ms,
    finish::{FinishOutcome, Holder},
    jobs::{Claimant, StartedJob, jitter_of},
};
use crate::{
    Error, Result,
    inspect::{Abandoned, HandlerWait},
    keys::{ShardKeys, StoredRecord},
    model::{
        Admission, Execution, ExecutionId, ExecutionState, JobId, Outcome, QueueName, Schedule, ScheduleStatus,
        SkipReason, millis,
    },
    scripts::{
        OverdueHandlerWaits, ReconcilerTurn,
        calls::{
            NoteCorruptRecords, PromoteDueJobs, RecoverScheduleJobs, ReviewHandlerWaits, TakeReconcilerTurn,
            TrimExecutionIndex, TrimHistory,
        },
    },
};

/// The error an attempt is closed with when its worker never saw the claim that started it.
pub const CLAIM_REPLY_LOST: &str = "claim_reply_lost";

/// Active schedules one reconciler pass reads at most.
pub const WALK_BUDGET: usize = 1_000;
/// Due jobs one promotion call moves to their ready list: moving one is three cheap commands, so a
/// worker starting after an outage promotes a backlog of 100,000 in 100 calls rather than 1,000.
const PROMOTE_BATCH: usize = 1_000;

/// What one reconciler pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
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
    /// Schedule records the walk could not decode and passed over (listed by `recur-worker inspect`).
    pub corrupt: u64,
}

impl Store {
    /// One reconciler pass over every shard (at start-up, and on the admin endpoint).
    #[tracing::instrument(skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        self.reconcile_shards(&(0..self.keys.shard_count()).collect::<Vec<_>>()).await
    }

    /// One reconciler pass over each of `shards` (the turns [`Store::take_reconciler_turns`] took): hand
    /// back jobs whose lease expired, promote overdue jobs, and re-create the job of every active schedule
    /// that lost it. Walks indexes in bounded pages; the walk over a shard's active schedules reads at most
    /// [`WALK_BUDGET`] of them a pass and resumes where the last pass stopped, so its cost does not grow with
    /// the number of healthy schedules.
    #[tracing::instrument(skip_all)]
    pub async fn reconcile_shards(&self, shards: &[usize]) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        for shard in shards {
            self.sync_workflow_copies(*shard).await?;
            self.reconcile_shard(&self.keys.shard(*shard), &mut report).await?;
        }
        if report != ReconcileReport::default() {
            tracing::info!(
                promoted = report.promoted,
                requeued = report.requeued,
                recovered = report.recovered,
                skipped_expired = report.skipped_expired,
                skipped_overlap = report.skipped_overlap,
                corrupt = report.corrupt,
                "reconciler promoted {} due jobs, requeued {} abandoned jobs, recovered {} lost jobs, skipped {} \
                 expired and {} overlapping occurrences, passed over {} corrupt records",
                report.promoted,
                report.requeued,
                report.recovered,
                report.skipped_expired,
                report.skipped_overlap,
                report.corrupt
            );
        }
        Ok(report)
    }

    async fn reconcile_shard(&self, keys: &ShardKeys, report: &mut ReconcileReport) -> Result<()> {
        for queue in self.inspect().shard_queue_names(keys).await? {
            report.requeued += self.requeue_expired_in(keys, &queue).await?;
            loop {
                let promoted = self.promote_due_jobs(keys, &queue).await?;
                report.promoted += promoted;
                if promoted < PROMOTE_BATCH as u64 {
                    break;
                }
            }
        }
        self.recheck_corrupt_records(keys).await?;
        let mut rank = self.inspect().reconcile_cursor(keys).await?;
        let mut walked = 0;
        loop {
            let decoded = self.inspect().active_schedules(keys, rank, BATCH).await?;
            let read = decoded.len();
            let (mut page, mut corrupt) = (Vec::with_capacity(read), Vec::new());
            for record in decoded {
                match record {
                    Ok(schedule) => page.push(schedule),
                    Err(unreadable) => corrupt.push(unreadable),
                }
            }
            for (key, detail) in &corrupt {
                tracing::error!(record.key = %key,
                    "reconciler passes over {key}: the record does not decode ({detail}); repair or delete it");
            }
            report.corrupt += corrupt.len() as u64;
            self.note_corrupt_records(keys, corrupt).await?;
            for schedule in &page {
                match self.skip_due_occurrence(schedule).await? {
                    Some(SkipReason::Expired { .. } | SkipReason::Ended | SkipReason::RepeatsDone { .. }) => {
                        report.skipped_expired += 1;
                    }
                    Some(SkipReason::Overlap) => report.skipped_overlap += 1,
                    None => {}
                }
            }
            walked += read;
            let next_rank = if read < BATCH { 0 } else { rank + BATCH };
            report.recovered += self.recover_schedule_jobs(keys, &page, next_rank).await?;
            if next_rank == 0 || walked >= WALK_BUDGET {
                break;
            }
            rank = next_rank;
        }
        self.trim_history(keys).await?;
        Ok(())
    }

    /// Adds records that do not decode (key and why) to the list `recur-worker inspect` shows, in the shard
    /// that met them; only schedule and workflow records, the ones [`Store::reconcile`] re-checks.
    pub(super) async fn note_corrupt_records(&self, keys: &ShardKeys, corrupt: Vec<(String, String)>) -> Result<()> {
        let entries: Vec<String> = corrupt
            .into_iter()
            .filter(|(key, _)| self.keys.record_of(key).is_some())
            .flat_map(|(key, detail)| [key, if detail.is_empty() { "does not decode".to_string() } else { detail }])
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        self.run(NoteCorruptRecords { corrupt_records: keys.corrupt_records(), entries }).await
    }

    /// The jobs that have waited for a handler since before `alert_after` ago and were not reported yet,
    /// each reported once across all workers; drops the entries of jobs that no longer wait. Looks at the
    /// [`WALK_BUDGET`] oldest waits a call.
    pub async fn review_handler_waits(&self, alert_after: Duration) -> Result<Vec<HandlerWait>> {
        let alert_before = self.clock.now() - alert_after;
        let mut waits = Vec::new();
        for keys in self.keys.shards() {
            let OverdueHandlerWaits(overdue) = self
                .run(ReviewHandlerWaits {
                    handler_waits: keys.handler_waits(),
                    job_pattern: keys.job_pattern(),
                    alert_before_ms: millis(alert_before),
                    batch: WALK_BUDGET,
                })
                .await?;
            waits.extend(
                overdue
                    .into_iter()
                    .filter_map(|(member, handler, since)| HandlerWait::of_member(&member, handler, since)),
            );
        }
        Ok(waits)
    }

    /// Drops from the list of corrupt records those that read again or are gone.
    async fn recheck_corrupt_records(&self, keys: &ShardKeys) -> Result<()> {
        let mut entries = Vec::new();
        for key in self.inspect().shard_corrupt_records(keys).await?.into_keys() {
            let read = match self.keys.record_of(&key) {
                Some(StoredRecord::Schedule(id)) => self.inspect().schedule(id).await.map(drop),
                Some(StoredRecord::Workflow(id)) => self.inspect().workflow(id).await.map(drop),
                None => Ok(()),
            };
            match read {
                Ok(()) | Err(Error::NotFound { .. }) => entries.extend([key, String::new()]),
                Err(Error::Corrupt { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        if entries.is_empty() {
            return Ok(());
        }
        self.run(NoteCorruptRecords { corrupt_records: keys.corrupt_records(), entries }).await
    }

    /// The shards whose periodic reconciler pass this worker should run now: each shard's turn goes to one
    /// caller per `every`. A tick may fire a few milliseconds before a full interval has passed since the
    /// last pass (timers and clocks are not exact), so a turn is taken once nine tenths of the interval have
    /// passed: otherwise such a tick was skipped and passes came two intervals apart.
    pub async fn take_reconciler_turns(&self, every: Duration) -> Result<Vec<usize>> {
        let mut taken = Vec::new();
        for (shard, keys) in self.keys.shards().into_iter().enumerate() {
            let turn = self
                .run(TakeReconcilerTurn {
                    reconciled_at: keys.reconciled_at(),
                    now_ms: millis(self.clock.now()),
                    min_gap_ms: duration_ms(every - every / 10),
                })
                .await?;
            if turn == ReconcilerTurn::Taken {
                taken.push(shard);
            }
        }
        Ok(taken)
    }

    /// Moves one batch of due jobs of `queue` in one shard to its ready list.
    async fn promote_due_jobs(&self, keys: &ShardKeys, queue: &QueueName) -> Result<u64> {
        self.run(PromoteDueJobs {
            delayed: keys.delayed(queue),
            ready: keys.ready(queue),
            now_ms: millis(self.clock.now()),
            batch: PROMOTE_BATCH,
        })
        .await
    }

    /// Re-creates the live job of each active schedule in `page` (of one shard) that has none in any queue
    /// structure, adds their queues to the shard's queue index (so a lost index is rebuilt from the
    /// schedules), and records that the shard's walk resumes at `next_rank`.
    async fn recover_schedule_jobs(&self, keys: &ShardKeys, page: &[Schedule], next_rank: usize) -> Result<u64> {
        let now = self.clock.now();
        let (mut schedule_keys, mut schedule_args) = (Vec::new(), Vec::new());
        for schedule in page.iter().filter(|schedule| schedule.status == ScheduleStatus::Active) {
            let job = schedule.planned_job();
            // An overdue run runs once, at once.
            let due = schedule.next_run_at.unwrap_or(now).max(now);
            schedule_keys.extend([
                keys.schedule(schedule.id),
                keys.delayed(&schedule.queue),
                keys.ready(&schedule.queue),
                keys.running(&schedule.queue),
            ]);
            schedule_args.extend([
                schedule.rev.to_string(),
                schedule.id.to_string(),
                job.to_string(),
                schedule.queue.to_string(),
                millis(due).to_string(),
            ]);
        }
        self.run(RecoverScheduleJobs {
            reconcile_cursor: keys.reconcile_cursor(),
            queues: keys.queues(),
            schedule_keys,
            wakeup_channel: self.keys.wakeup_channel(),
            next_rank,
            schedule_args,
        })
        .await
    }

    /// Drops a shard's history index entries past the retention age, with the ad-hoc runs' records, in
    /// batches, walking the workflow index in pages.
    async fn trim_history(&self, keys: &ShardKeys) -> Result<u64> {
        let drop_before_ms = millis(self.clock.now()) - self.retention.max_age.as_millis() as i64;
        let mut dropped = 0;
        loop {
            let (execution_index, run_executions) = (keys.execution_index(), keys.run_executions());
            let trimmed =
                self.run(TrimExecutionIndex { execution_index, run_executions, drop_before_ms, batch: BATCH });
            let trimmed = trimmed.await?;
            dropped += trimmed;
            if trimmed < BATCH as u64 {
                break;
            }
        }
        let mut cursor = None;
        loop {
            let page = self.inspect().workflow_ids(BATCH, cursor.as_deref()).await?;
            let indexes: Vec<String> = page.items.iter().map(|id| keys.workflow_executions(*id)).collect();
            if !indexes.is_empty() {
                dropped += self.run(TrimHistory { indexes, drop_before_ms }).await?;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(dropped),
            }
        }
    }

    /// Skips the due, not yet started live job of `schedule` when it may no longer run (beyond its catch-up
    /// window, after `end_at`, or overlapping a run under way), records it as skipped and plans the next
    /// occurrence. The reason, when it did.
    pub(super) async fn skip_due_occurrence(&self, schedule: &Schedule) -> Result<Option<SkipReason>> {
        let now = self.clock.now();
        let (Some(job), Some(due)) = (schedule.live_job, schedule.next_run_at) else { return Ok(None) };
        if due > now {
            return Ok(None);
        }
        let Admission::Skip(reason) = schedule.admission(&job, due, now) else { return Ok(None) };
        // Whether the job still waits is the finish's to check, atomically.
        let attempt = self.inspect().job_attempt(&job).await?;
        let id = ExecutionId { job, attempt: attempt + 1 };
        let mut execution = Execution::running(
            id,
            schedule.id,
            schedule.workflow_id,
            due,
            jitter_of(&job, schedule, due),
            now,
            String::new(),
        );
        execution.close(ExecutionState::Skipped, now, Some(reason.to_string()));
        let started = StartedJob {
            job,
            queue: schedule.queue.clone(),
            execution: execution.clone(),
            started_at: now,
            schedule: schedule.clone(),
            lease: Duration::ZERO,
            workflow_version: None,
            holds_slot: false,
        };
        let settled = self.settle(&started, &execution, &Outcome::Skipped(reason), Holder::Pending).await?;
        Ok((settled == FinishOutcome::Recorded).then_some(reason))
    }

    /// Hands back every job of `queue` whose lease has expired (or, after [`MAX_DELIVERIES`], fails it), in
    /// every shard, in batches; how many it handled.
    pub async fn requeue_expired_jobs(&self, queue: &QueueName) -> Result<u64> {
        let mut requeued = 0;
        for keys in self.keys.shards() {
            requeued += self.requeue_expired_in(&keys, queue).await?;
        }
        Ok(requeued)
    }

    async fn requeue_expired_in(&self, keys: &ShardKeys, queue: &QueueName) -> Result<u64> {
        let mut requeued = 0;
        loop {
            let now = self.clock.now();
            let expired = self.inspect().expired_leases(keys, queue, now, BATCH).await?;
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

    /// Hands back at once the jobs the claimant holds but does not run (`running` lists what it runs): the
    /// jobs of a claim whose reply it never saw, which would otherwise wait for their lease. Each one's
    /// attempt is closed as failed, as for an expired lease; how many it handed back.
    pub async fn hand_back_unseen_claims(&self, claimant: &Claimant, running: &HashSet<JobId>) -> Result<u64> {
        let mut handed_back = 0;
        for queue in &claimant.queues {
            for job in self.inspect().held_by(queue, &claimant.id).await? {
                if running.contains(&job) {
                    continue;
                }
                let abandoned = self.inspect().abandoned_attempt(&job, queue).await?;
                let closed = abandoned.map(|Abandoned { mut execution, .. }| {
                    execution.close(ExecutionState::Failed, self.clock.now(), Some(CLAIM_REPLY_LOST.to_string()));
                    execution
                });
                tracing::warn!(job.id = %job, worker.id = %claimant.id,
                    "job {job} was claimed by worker {} in a call whose reply was lost; handing it back", claimant.id);
                if self.requeue(&job, queue, &claimant.id, closed.as_ref(), None).await? {
                    handed_back += 1;
                }
            }
        }
        Ok(handed_back)
    }

    /// Ends one abandoned attempt: closes its execution as `lease_expired` and hands the job back, or after
    /// [`MAX_DELIVERIES`] counts it as a failure of the schedule.
    async fn recover_abandoned_job(&self, job: &JobId, queue: &QueueName, owner: &str, now: Timestamp) -> Result<bool> {
        let abandoned = self.inspect().abandoned_attempt(job, queue).await?;
        let Some(Abandoned { mut execution, schedule, lost_before }) = abandoned else {
            return self.requeue(job, queue, owner, None, Some(now)).await;
        };
        execution.close(ExecutionState::Failed, now, Some("lease_expired".to_string()));
        tracing::warn!(job.id = %job, worker.id = %owner, attempt = execution.attempt,
            "lease of job {job} expired on worker {owner}, attempt {}", execution.attempt);
        // Only lost deliveries count: a job handed back by graceful restarts (a rolling deploy) is not at fault.
        if lost_before + 1 < MAX_DELIVERIES {
            return self.requeue(job, queue, owner, Some(&execution), Some(now)).await;
        }
        // Its slot, if it took one, is freed now rather than when its lease score is next purged.
        let started = StartedJob {
            job: *job,
            queue: queue.clone(),
            execution: execution.clone(),
            started_at: now,
            schedule,
            lease: Duration::ZERO,
            workflow_version: None,
            holds_slot: true,
        };
        let outcome = Outcome::Failed(format!("its lease expired {MAX_DELIVERIES} times without a finish"));
        let holder = Holder::Worker { expired_before: Some(now) };
        let settled = self.settle(&started, &execution, &outcome, holder).await?;
        Ok(!matches!(settled, FinishOutcome::Lost | FinishOutcome::Gone))
    }
}
