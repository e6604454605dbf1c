//! The end of a job: planned by `Schedule::settled` from the schedule as the job started, written by
//! `finish_jobs.lua` for several jobs per call. A finish whose schedule changed meanwhile is planned again
//! from a fresh read, alone. An ad-hoc run has no schedule to move on: `finish_runs.lua` only records it.

use futures_util::future::{BoxFuture, try_join_all};
use jiff::Timestamp;
use uuid::Uuid;

use super::{
    BATCH, MAX_PLAN_ATTEMPTS, Store, contended, counts_as_run, is_recorded, jobs::StartedJob, schedules::job_text,
};
use crate::{
    Error, Result,
    keys::ShardKeys,
    model::{Admission, Execution, JobId, Outcome, QueueName, Schedule, ScheduleStatus, from_millis, millis, rfc3339},
    record::{ScheduleRecord, execution_json},
    scripts::{
        Finished,
        calls::{FinishJobs, FinishRuns},
        flag,
    },
};

/// A schedule's history is trimmed to the retention bounds on every this-many-th finish, so that a busy
/// schedule pays the two commands of checking the bounds once per this many; up to this many more records
/// than the count bound may be kept in between.
const TRIM_EVERY: u64 = 16;
/// A finish that comes at least this part of the retention age after the previous run always trims, so a
/// rare schedule's records outlive the age bound by at most `TRIM_EVERY` such gaps (a quarter of it).
const QUIET_PART_OF_AGE: i64 = 64;

/// How a job ended, as its worker reports it: the job, its closed execution, and the outcome for its schedule.
#[derive(Debug, Clone)]
pub struct JobEnd {
    pub started: StartedJob,
    pub execution: Execution,
    pub outcome: Outcome,
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
    /// The job's record no longer exists (deleted with its schedule, or Redis lost its data): nothing was
    /// recorded.
    Gone,
}

/// Who holds the job a finish ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    /// The worker named in the execution; with `expired_before`, only if its lease expired before then (the
    /// reconciler ending an abandoned job).
    Worker { expired_before: Option<Timestamp> },
    /// Nobody: the job is still delayed or ready (the reconciler skipping an occurrence, or a queued run
    /// cancelled).
    Pending,
}

impl Holder {
    /// The owner a finish checks ('' when pending) and the instant its lease must have ended before.
    fn owner(self, execution: &Execution) -> (String, Option<Timestamp>) {
        match self {
            Self::Worker { expired_before } => (execution.worker_id.clone(), expired_before),
            Self::Pending => (String::new(), None),
        }
    }
}

/// One finish as its script takes it, and what it plans.
struct PlannedFinish {
    call: FinishCall,
    /// The schedule's next state and next job; none for an ad-hoc run, which has no schedule.
    settled: Option<Settled>,
}

/// A schedule's next state and next job (with its due time), as a finish plans them.
pub(super) type Settled = (Schedule, Option<(JobId, Timestamp)>);

/// A finish's keys and arguments (see its script's header for their order), moved into the script call.
pub(super) struct FinishCall {
    /// The schedule or run whose shard holds the keys.
    pub id: Uuid,
    script: FinishScript,
    keys: Vec<String>,
    args: Vec<String>,
}

/// The script that writes a finish.
#[derive(Clone, Copy)]
enum FinishScript {
    /// A schedule's job: `finish_jobs.lua`, 16 keys and 20 values.
    Jobs,
    /// An ad-hoc run: `finish_runs.lua`, 8 keys and 7 values.
    Runs,
}

impl FinishScript {
    /// The script's file, as errors name it.
    fn file(self) -> &'static str {
        match self {
            Self::Jobs => "finish_jobs.lua",
            Self::Runs => "finish_runs.lua",
        }
    }
}

impl Store {
    /// Records how started jobs ended and moves each one's schedule on (next job, retry, `done`, `dead`),
    /// in one round trip for the batch (each finish atomic on its own, and first checking that its worker
    /// still holds the job). One answer per job, in order.
    #[tracing::instrument(skip_all, fields(jobs = ends.len()))]
    pub async fn finish_jobs(&self, ends: &[JobEnd]) -> Result<Vec<FinishOutcome>> {
        let now = self.clock.now();
        let (calls, planned) = self.plan_ends(ends, now).await?;
        let answers = self.apply_finishes(calls, now).await?;
        self.conclude_ends(ends, &planned, answers).await
    }

    /// Whether Redis holds `execution` as its worker ended it (ended, by that worker, in the same state and
    /// with the same error). A finish retried after a call whose reply was lost answers [`FinishOutcome::Gone`]
    /// when that call did record it (the job's record went with it); this tells the two apart. An abandoned
    /// job the reconciler ended carries an error of its own.
    pub async fn holds_end(&self, execution: &Execution) -> Result<bool> {
        match self.inspect().execution(&execution.id.to_string()).await {
            Ok(stored) => Ok(stored.finished_at.is_some()
                && stored.state == execution.state
                && stored.worker_id == execution.worker_id
                && stored.error == execution.error),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Plans how a worker's `ends` are written: one call each, and what each plans for its schedule.
    pub(super) async fn plan_ends(
        &self,
        ends: &[JobEnd],
        now: Timestamp,
    ) -> Result<(Vec<FinishCall>, Vec<Option<Settled>>)> {
        let holder = Holder::Worker { expired_before: None };
        let (mut calls, mut planned) = (Vec::with_capacity(ends.len()), Vec::with_capacity(ends.len()));
        for end in ends {
            let plan = self.plan_finish(&end.started.schedule, &end.started, &end.execution, &end.outcome, holder, now);
            let PlannedFinish { call, settled } = plan.await?;
            calls.push(call);
            planned.push(settled);
        }
        Ok((calls, planned))
    }

    /// The outcome of each of a worker's `ends` from its script's answer; one whose schedule changed since the
    /// job started (a patch, another run's end) is planned again, alone.
    pub(super) async fn conclude_ends(
        &self,
        ends: &[JobEnd],
        planned: &[Option<Settled>],
        answers: Vec<Finished>,
    ) -> Result<Vec<FinishOutcome>> {
        let holder = Holder::Worker { expired_before: None };
        let mut outcomes = Vec::with_capacity(ends.len());
        for ((end, settled), answer) in ends.iter().zip(planned).zip(answers) {
            outcomes.push(match recorded(answer, &end.started.job, &end.started.schedule, settled.as_ref()) {
                Some(outcome) => outcome,
                None => self.settle(&end.started, &end.execution, &end.outcome, holder).await?,
            });
        }
        Ok(outcomes)
    }

    /// Plans and applies the end of one job, re-planning from a fresh read while its schedule changes under
    /// it: by its worker, by the reconciler for a job abandoned too often (only if its lease is still
    /// expired), or by the reconciler skipping a pending occurrence.
    pub(super) async fn settle(
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
            // A pending occurrence is skipped only while its schedule's rules still say so (a run under way
            // may have ended since the skip was decided): otherwise it is left to run.
            let still_skipped =
                matches!(current.admission(&started.job, execution.scheduled_for, now), Admission::Skip(_));
            if matches!(holder, Holder::Pending) && matches!(outcome, Outcome::Skipped(_)) && !still_skipped {
                return Ok(FinishOutcome::Lost);
            }
            let PlannedFinish { call, settled } =
                self.plan_finish(&current, started, execution, outcome, holder, now).await?;
            let script = call.script.file();
            let answer = self.apply_finishes(vec![call], now).await?.pop();
            let answer = answer.ok_or_else(|| Error::unexpected_reply(script, "no answer for one finish"))?;
            if let Some(outcome) = recorded(answer, &started.job, &current, settled.as_ref()) {
                return Ok(outcome);
            }
        }
        Err(contended(schedule_id))
    }

    /// Plans the end of `started` from the schedule as `current`, at `now`.
    async fn plan_finish(
        &self,
        current: &Schedule,
        started: &StartedJob,
        execution: &Execution,
        outcome: &Outcome,
        holder: Holder,
        now: Timestamp,
    ) -> Result<PlannedFinish> {
        if current.ad_hoc {
            return self.plan_run_finish(started, execution, holder);
        }
        let job = started.job;
        let schedule_id = job.schedule();
        let workflow_id = started.schedule.workflow_id;
        let is_backfill = matches!(job, JobId::Backfill { .. });
        let settlement = current.settled(&job, execution.scheduled_for, execution.id, outcome, now);
        let mut next = settlement.schedule;
        next.rev = current.rev + 1;
        let next_job = match (is_backfill, current.backfill_job == Some(job)) {
            (true, true) => self.inspect().backfill_head(schedule_id).await?.map(|job| (job, now)),
            (true, false) => None,
            (false, _) => settlement.next_job,
        };
        // A backfill run is due now and reports its occurrence; any other job, its due time.
        let (next_due, next_occurrence) = match next_job {
            Some((JobId::Backfill { at, .. }, due)) => (due, rfc3339(from_millis(at.saturating_mul(1000)))),
            Some((_, due)) => (due, String::new()),
            None => (now, String::new()),
        };
        let keys = self.keys.of(schedule_id);
        // A job key for each job the script may touch; the finished job's key stands in for one it has not.
        let finished_job_key = keys.job(&job);
        let job_key = |other: Option<JobId>| other.map_or_else(|| finished_job_key.clone(), |other| keys.job(&other));
        let (owner, expired_before) = holder.owner(execution);
        let keys = [
            finished_job_key.clone(),
            keys.running(&started.queue),
            keys.leases(&started.queue),
            keys.schedule(schedule_id),
            keys.executions(schedule_id),
            keys.execution_times(schedule_id),
            keys.schedules_by_status(current.status),
            keys.schedules_by_status(next.status),
            job_key(next_job.map(|(job, _)| job)),
            keys.delayed(&next.queue),
            keys.ready(&next.queue),
            job_key(settlement.dropped_job),
            keys.backfill(schedule_id),
            keys.workflow_slots(workflow_id),
            keys.workflow_waiting(workflow_id),
            keys.workflow_executions(workflow_id),
        ];
        let args = [
            job.to_string(),
            match holder {
                Holder::Pending => current.running_jobs.to_string(),
                Holder::Worker { .. } => String::new(),
            },
            owner,
            execution.id.to_string(),
            execution_json(execution)?,
            expired_before.map_or(0, millis).to_string(),
            current.rev.to_string(),
            schedule_id.to_string(),
            millis(next.created_at).to_string(),
            job_text(next_job.map(|(job, _)| job)),
            next.queue.to_string(),
            millis(next_due).to_string(),
            next_occurrence,
            flag(next_job.is_some_and(|(job, due)| is_recorded(&next, &job, due))),
            flag(counts_as_run(&job) && matches!(holder, Holder::Worker { .. })),
            job_text(settlement.dropped_job),
            flag(is_backfill),
            flag(started.holds_slot),
            flag(self.trims_history(current, now)),
            ScheduleRecord::changes(current, &next).to_json(),
        ];
        let call = FinishCall { id: schedule_id, script: FinishScript::Jobs, keys: keys.into(), args: args.into() };
        Ok(PlannedFinish { call, settled: Some((next, next_job)) })
    }

    /// Plans the end of ad-hoc run `started`: its execution recorded, its claim released (or, pending, its
    /// place in its queue taken), its workflow slot freed. Nothing follows a run.
    fn plan_run_finish(&self, started: &StartedJob, execution: &Execution, holder: Holder) -> Result<PlannedFinish> {
        let (job, workflow_id) = (started.job, started.schedule.workflow_id);
        let keys = self.keys.of(job.schedule());
        let (owner, expired_before) = holder.owner(execution);
        let keys = [
            keys.job(&job),
            keys.running(&started.queue),
            keys.leases(&started.queue),
            keys.delayed(&started.queue),
            keys.ready(&started.queue),
            keys.workflow_slots(workflow_id),
            keys.workflow_waiting(workflow_id),
            keys.workflow_executions(workflow_id),
        ];
        let args = [
            job.to_string(),
            flag(matches!(holder, Holder::Pending)),
            owner,
            execution.id.to_string(),
            execution_json(execution)?,
            expired_before.map_or(0, millis).to_string(),
            flag(started.holds_slot),
        ];
        let call = FinishCall { id: job.schedule(), script: FinishScript::Runs, keys: keys.into(), args: args.into() };
        Ok(PlannedFinish { call, settled: None })
    }

    /// Whether a finish of `current` at `now` trims its history: every [`TRIM_EVERY`]th, and any that comes
    /// after a quiet spell; never the first (a one-off job's only one), which has nothing before it to trim.
    fn trims_history(&self, current: &Schedule, now: Timestamp) -> bool {
        let finishes = current.run_count + current.error_count + current.missed_count;
        let quiet = self.retention.max_age.as_millis() / i128::from(QUIET_PART_OF_AGE);
        let after_quiet = current.last_run_at.is_none_or(|at| now.duration_since(at).as_millis() >= quiet);
        finishes > 0 && (finishes.is_multiple_of(TRIM_EVERY) || after_quiet)
    }

    /// Writes planned finishes in one call per shard and kind (schedules' jobs, ad-hoc runs); one answer per
    /// finish, in order.
    pub(super) async fn apply_finishes(&self, calls: Vec<FinishCall>, now: Timestamp) -> Result<Vec<Finished>> {
        let count = calls.len();
        let by_shard = self.calls_by_shard(calls.iter().map(|call| call.id));
        let mut calls: Vec<Option<FinishCall>> = calls.into_iter().map(Some).collect();
        let mut sent: Vec<BoxFuture<'_, Result<Vec<Placed>>>> = Vec::new();
        for (keys, positions) in by_shard {
            let mut finishes = ShardFinishes::default();
            for index in positions {
                if let Some(call) = calls[index].take() {
                    finishes.push(index, call);
                }
            }
            let ShardFinishes { jobs, job_keys, job_args, runs, run_keys, run_args } = finishes;
            let retention = self.retention_args(&keys, now);
            if !jobs.is_empty() {
                let call = FinishJobs {
                    execution_index: keys.execution_index(),
                    finish_keys: job_keys,
                    now_ms: millis(now),
                    keep: retention.keep,
                    drop_before_ms: retention.drop_before_ms,
                    retention_ms: retention.retention_ms,
                    wakeup_channel: self.keys.wakeup_channel(),
                    delayed_pattern: retention.delayed_pattern.clone(),
                    trim_batch: BATCH,
                    finish_args: job_args,
                };
                sent.push(Box::pin(async move { placed(jobs, self.run(call).await?, FinishScript::Jobs.file()) }));
            }
            if !runs.is_empty() {
                let call = FinishRuns {
                    execution_index: keys.execution_index(),
                    run_executions: keys.run_executions(),
                    run_keys,
                    now_ms: millis(now),
                    wakeup_channel: self.keys.wakeup_channel(),
                    delayed_pattern: retention.delayed_pattern,
                    run_args,
                };
                sent.push(Box::pin(async move { placed(runs, self.run(call).await?, FinishScript::Runs.file()) }));
            }
        }
        // Every call goes out at once: a batch over several shards, or with both kinds, costs one round trip.
        let answered = try_join_all(sent).await?.into_iter().flatten();
        in_order(count, answered, FinishScript::Jobs.file())
    }

    /// What a finish script takes besides its finishes, for the shard of `keys` at `now`.
    pub(super) fn retention_args(&self, keys: &ShardKeys, now: Timestamp) -> RetentionArgs {
        let retention_ms = self.retention.max_age.as_millis() as i64;
        RetentionArgs {
            keep: self.retention.keep,
            drop_before_ms: millis(now) - retention_ms,
            retention_ms,
            delayed_pattern: keys.pattern(|keys| keys.delayed(&QueueName::placeholder())),
        }
    }
}

/// The retention bounds and the delayed key pattern, as finish scripts take them.
pub(super) struct RetentionArgs {
    pub keep: u64,
    pub drop_before_ms: i64,
    pub retention_ms: i64,
    pub delayed_pattern: String,
}

/// The finishes of one shard as its scripts take them: schedules' jobs and ad-hoc runs apart, each kind with
/// the positions of its finishes in the batch and their keys and values in that order.
#[derive(Default)]
pub(super) struct ShardFinishes {
    pub jobs: Vec<usize>,
    pub job_keys: Vec<String>,
    pub job_args: Vec<String>,
    pub runs: Vec<usize>,
    pub run_keys: Vec<String>,
    pub run_args: Vec<String>,
}

impl ShardFinishes {
    /// Adds the finish at `index` of the batch.
    pub fn push(&mut self, index: usize, call: FinishCall) {
        let (positions, keys, args) = match call.script {
            FinishScript::Jobs => (&mut self.jobs, &mut self.job_keys, &mut self.job_args),
            FinishScript::Runs => (&mut self.runs, &mut self.run_keys, &mut self.run_args),
        };
        positions.push(index);
        keys.extend(call.keys);
        args.extend(call.args);
    }
}

/// A finish's answer and its position in the batch.
pub(super) type Placed = (usize, Finished);

/// A script's answers, one per finish, paired with the finishes' `positions` in the batch.
pub(super) fn placed(positions: Vec<usize>, answered: Vec<Finished>, script: &'static str) -> Result<Vec<Placed>> {
    if answered.len() != positions.len() {
        return Err(Error::unexpected_reply(
            script,
            format!("{} answers for {} finishes", answered.len(), positions.len()),
        ));
    }
    Ok(positions.into_iter().zip(answered).collect())
}

/// The answers of a batch of `count` finishes in its order, from answers `script` placed by position.
pub(super) fn in_order(
    count: usize,
    answered: impl IntoIterator<Item = Placed>,
    script: &'static str,
) -> Result<Vec<Finished>> {
    let mut answers: Vec<Option<Finished>> = vec![None; count];
    for (index, answer) in answered {
        answers[index] = Some(answer);
    }
    let placed = answers.into_iter().flatten().collect::<Vec<_>>();
    if placed.len() != count {
        return Err(Error::unexpected_reply(script, format!("{} answers for {count} finishes", placed.len())));
    }
    Ok(placed)
}

/// The outcome of a finish planned from the schedule as `before`, logged when it moved a schedule; `None` when
/// it was stale (nothing written).
fn recorded(answer: Finished, job: &JobId, before: &Schedule, settled: Option<&Settled>) -> Option<FinishOutcome> {
    match answer {
        Finished::Recorded => {
            if let Some((next, next_job)) = settled {
                log_settlement(job, before.status, next, *next_job);
            }
            Some(FinishOutcome::Recorded)
        }
        Finished::RecordedWithoutSchedule => Some(FinishOutcome::RecordedWithoutSchedule),
        Finished::Lost => Some(FinishOutcome::Lost),
        Finished::Gone => Some(FinishOutcome::Gone),
        Finished::Stale => None,
    }
}

/// Logs where a finish left its schedule: a warning when this job's failure made it dead (a manual or backfill
/// run of a schedule already dead leaves it so, which is no news).
fn log_settlement(
    job: &JobId,
    status_before: ScheduleStatus,
    schedule: &Schedule,
    next_job: Option<(JobId, Timestamp)>,
) {
    match next_job {
        Some((next, due)) => tracing::info!(job.id = %job, schedule.id = %schedule.id, next_job.id = %next,
            "job {job} ended; next job {next} due at {due}"),
        None if schedule.status == ScheduleStatus::Dead && status_before != ScheduleStatus::Dead => {
            let error = schedule.last_error.as_deref().unwrap_or("no error recorded");
            tracing::warn!(job.id = %job, schedule.id = %schedule.id, schedule.status = "dead", error,
                "job {job} ended; schedule {} ({}) is dead after its retries: {error}", schedule.id, schedule.name);
        }
        None => tracing::info!(job.id = %job, schedule.id = %schedule.id, schedule.status = schedule.status.as_str(),
            "job {job} ended; schedule is {}", schedule.status.as_str()),
    }
}
