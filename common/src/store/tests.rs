//! Each transition run once against a private Redis, asserting the whole affected state.

use std::{collections::HashMap, sync::Arc, time::Duration};

use redis::AsyncCommands;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use uuid::Uuid;

use super::*;
pub(super) use crate::{
    Error,
    clock::ManualClock,
    keys::{Keys, ShardKeys},
    model::{
        BareRun, Execution, ExecutionId, ExecutionState, JobId, Outcome, QueueName, Recurrence, Schedule,
        ScheduleStatus, SkipReason, Workflow, millis,
    },
    testing::TestRedis,
};

const LEASE: Duration = Duration::from_secs(30);
const WORKER: &str = "worker-1";

/// The test worker: the default queue, no handlers.
pub(super) fn claimant() -> Claimant {
    Claimant { id: WORKER.to_string(), queues: vec![QueueName::default()], handlers: Vec::new(), lease: LEASE }
}

pub(super) struct Fixture {
    pub(super) redis: TestRedis,
    pub(super) clock: Arc<ManualClock>,
    pub(super) store: Store,
    /// The keys of the one shard the fixture's deployment has.
    pub(super) keys: ShardKeys,
    pub(super) queue: QueueName,
}

impl Fixture {
    pub(super) async fn new() -> Self {
        let redis = TestRedis::start();
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let store = redis.store(clock.clone()).await;
        Self { redis, clock, store, keys: Keys::new("recur").shard(0), queue: QueueName::default() }
    }

    pub(super) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(super) fn advance(&self, seconds: i64) {
        self.clock.advance(SignedDuration::from_secs(seconds));
    }

    pub(super) async fn workflow(&self) -> Workflow {
        let name = format!("noop-{}", Uuid::new_v4().simple());
        let new = serde_json::from_value(json!({"name": name, "steps": [{"kind": "log", "message": "hi"}]})).unwrap();
        self.store.create_workflow(new).await.unwrap()
    }

    pub(super) async fn schedule(&self, body: serde_json::Value) -> Schedule {
        let workflow = self.workflow().await;
        let mut body = body;
        body["workflow_id"] = json!(workflow.id);
        self.store.create_schedule(serde_json::from_value(body).unwrap()).await.unwrap()
    }

    pub(super) async fn delayed(&self) -> Vec<(String, i64)> {
        self.redis.zset(&self.keys.delayed(&self.queue)).await
    }

    /// Claims, starts and finishes the next due job with `outcome`.
    pub(super) async fn run_next(&self, outcome: Outcome) -> StartedJob {
        let started = self.start_next().await;
        let mut execution = started.execution.clone();
        execution.close(outcome.state(), self.now(), outcome.error());
        assert_eq!(finish_one(&self.store, &started, &execution, &outcome).await, FinishOutcome::Recorded);
        started
    }

    /// Claims (and starts) one job of the fixture's queue.
    pub(super) async fn claim(&self) -> Claim {
        self.store.claim_jobs(&Claimant { queues: vec![self.queue.clone()], ..claimant() }, 1).await.unwrap()
    }

    /// The one job a claim for `claimant` took, if any, and what became of it once admitted, as a worker
    /// admits it before running it.
    pub(super) async fn claim_for(&self, claimant: &Claimant) -> Option<(JobId, Start)> {
        let claimant = Claimant { queues: vec![self.queue.clone()], ..claimant.clone() };
        match self.store.claim_jobs(&claimant, 1).await.unwrap() {
            Claim::Claimed(mut jobs) if jobs.len() == 1 => {
                let (job, start) = jobs.remove(0);
                Some((job, admitted(&self.store, start).await))
            }
            Claim::Claimed(jobs) => panic!("asked for one job, claimed {jobs:?}"),
            Claim::Empty { .. } => None,
        }
    }

    pub(super) async fn start_next(&self) -> StartedJob {
        let Some((_, start)) = self.claim_for(&claimant()).await else {
            panic!("nothing to claim at {}", self.now());
        };
        let Start::Started(started) = start else { panic!("not started: {start:?}") };
        *started
    }
}

/// `start` as the worker runs it: a started job once its schedule's rules admit it.
pub(super) async fn admitted(store: &Store, start: Start) -> Start {
    match start {
        Start::Started(started) => store.admit(*started).await.unwrap(),
        other => other,
    }
}

/// The jobs of a claim that started, each admitted, in order; panics on any other answer.
pub(super) async fn started_jobs(store: &Store, claim: Claim) -> Vec<StartedJob> {
    let Claim::Claimed(claimed) = claim else { panic!("nothing due") };
    let mut started = Vec::new();
    for (_, start) in claimed {
        match admitted(store, start).await {
            Start::Started(job) => started.push(*job),
            other => panic!("{other:?}"),
        }
    }
    started
}

/// How `started` ends when its workflow succeeds at `now`.
pub(super) fn succeeded(started: StartedJob, now: Timestamp) -> JobEnd {
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, now, None);
    JobEnd { started, execution, outcome: Outcome::Succeeded }
}

/// What recording `ends` answers when all are held: the ad-hoc `run` has no schedule to move on.
fn outcomes_with_run(ends: &[JobEnd], run: JobId) -> Vec<FinishOutcome> {
    let outcome = |end: &JobEnd| {
        if end.started.job == run { FinishOutcome::RecordedWithoutSchedule } else { FinishOutcome::Recorded }
    };
    ends.iter().map(outcome).collect()
}

/// Finishes one job through the batch path, as a worker does.
pub(super) async fn finish_one(
    store: &Store,
    started: &StartedJob,
    execution: &Execution,
    outcome: &Outcome,
) -> FinishOutcome {
    let end = JobEnd { started: started.clone(), execution: execution.clone(), outcome: outcome.clone() };
    let mut outcomes = store.finish_jobs(&[end]).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

pub(super) fn ms(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_millisecond()
}

#[tokio::test]
async fn create_schedule_writes_the_record_its_indexes_and_the_first_job() {
    let f = Fixture::new().await;
    let schedule = f
        .schedule(json!({"interval_seconds": 60, "total_repeats": 3, "max_retries": 1, "trigger_payload": {"a": 1}}))
        .await;
    let job = JobId::regular(schedule.id, 0, 0);

    let record = f.redis.hash(&f.keys.schedule(schedule.id)).await;
    assert!(!record.contains_key("status"), "active, the status almost every schedule has, is left out");
    assert_eq!(record["repeat_count"], "3");
    assert_eq!(record["retry_max"], "1");
    assert_eq!(record["payload"], r#"{"a":1}"#);
    assert_eq!(record["next_run_at"], ms("2026-01-01T00:01:00Z").to_string());
    assert!(!record.contains_key("live_job"), "left out: the counters name the live job");
    assert_eq!(f.store.inspect().schedule(schedule.id).await.unwrap().live_job, Some(job));
    assert_eq!(f.delayed().await, [(job.to_string(), ms("2026-01-01T00:01:00Z"))]);
    assert!(!f.redis.exists(&f.keys.job(&job)).await, "the live job waits without a record of its own");
    assert_eq!(
        f.store.inspect().execution(&format!("{job}-a1")).await.unwrap().scheduled_for,
        schedule.next_run_at.unwrap()
    );
    let created = ms("2026-01-01T00:00:00Z");
    let active = f.redis.zset(&f.keys.schedules_by_status(ScheduleStatus::Active)).await;
    assert_eq!(active, [(schedule.id.to_string(), created)]);
    let uses = f.redis.hash(&f.keys.workflow_uses()).await;
    assert_eq!(uses, HashMap::from([(schedule.workflow_id.to_string(), "1".to_string())]));
    assert_eq!(f.store.inspect().schedule(schedule.id).await.unwrap(), schedule);
}

#[tokio::test]
async fn a_live_job_gets_its_record_when_it_starts_and_a_job_its_schedule_no_longer_names_is_dropped() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    let job = schedule.planned_job();
    // Not its schedule's live job, and without a record: nothing says what it is.
    let stray = JobId::regular(schedule.id, 7, 0);
    f.redis.command(&["RPUSH", &f.keys.ready(&f.queue), &stray.to_string()]).await;
    f.advance(60);

    let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 10).await.unwrap() else { panic!("nothing due") };
    let answers: Vec<(JobId, bool)> =
        claimed.iter().map(|(job, start)| (*job, matches!(start, Start::Started(_)))).collect();
    assert_eq!(answers, [(stray, false), (job, true)]);
    assert!(matches!(claimed[0].1, Start::Dropped));
    let Start::Started(started) = &claimed[1].1 else { unreachable!() };
    assert_eq!(started.execution.scheduled_for, schedule.next_run_at.unwrap(), "due when its schedule said");
    let record = f.redis.hash(&f.keys.job(&job)).await;
    assert_eq!(record["schedule_id"], schedule.id.to_string());
    assert_eq!(record["due_ms"], millis(schedule.next_run_at.unwrap()).to_string());
    assert_eq!(record["attempt"], "1");
    assert!(!f.redis.exists(&f.keys.job(&stray)).await);
}

#[tokio::test]
async fn a_schedule_and_job_written_before_the_compact_records_run_on_and_are_compacted_at_their_next_write() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    let (key, job) = (f.keys.schedule(schedule.id), schedule.planned_job());
    // As the records were written before: every field spelled out, and the waiting job with a hash.
    let created = millis(schedule.created_at).to_string();
    let (id, due) = (schedule.id.to_string(), millis(schedule.next_run_at.unwrap()).to_string());
    f.redis.command(&["HSET", &key, "status", "active", "created_at", &created, "live_job", &job.to_string()]).await;
    f.redis.command(&["HSET", &f.keys.job(&job), "schedule_id", &id, "queue", "default", "due_ms", &due]).await;
    assert_eq!(f.store.inspect().schedule(schedule.id).await.unwrap().live_job, Some(job));

    f.advance(60);
    let started = started_jobs(&f.store, f.store.claim_jobs(&claimant(), 10).await.unwrap()).await.remove(0);
    assert_eq!((started.job, started.execution.scheduled_for), (job, schedule.next_run_at.unwrap()));
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    assert_eq!(finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await, FinishOutcome::Recorded);

    let record = f.redis.hash(&key).await;
    assert!(!record.contains_key("live_job"), "the next write leaves out what the counters say: {record:?}");
    let next = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!(next.live_job, Some(JobId::regular(schedule.id, 1, 0)));
    assert!(!f.redis.exists(&f.keys.job(&next.planned_job())).await, "the next job waits without a hash");
    assert_eq!(f.delayed().await, [(next.planned_job().to_string(), millis(next.next_run_at.unwrap()))]);
}

#[tokio::test]
async fn a_schedule_naming_a_missing_workflow_is_refused() {
    let f = Fixture::new().await;
    let new = serde_json::from_value(json!({"workflow_id": Uuid::new_v4(), "interval_seconds": 5})).unwrap();
    assert!(matches!(f.store.create_schedule(new).await, Err(Error::UnknownWorkflow(_))));
    assert!(f.redis.zset(&f.keys.schedules_by_status(ScheduleStatus::Active)).await.is_empty());
}

#[tokio::test]
async fn nothing_is_claimed_before_it_is_due_and_the_earliest_due_time_is_reported() {
    let f = Fixture::new().await;
    f.schedule(json!({"interval_seconds": 60})).await;
    let claim = f.claim().await;
    assert!(
        matches!(claim, Claim::Empty { next_due: Some(due) } if due == "2026-01-01T00:01:00Z".parse::<Timestamp>().unwrap()),
        "{claim:?}"
    );
    f.advance(60);
    assert!(matches!(f.claim().await, Claim::Claimed(_)));
}

#[tokio::test]
async fn claim_and_start_lease_the_job_and_record_a_running_execution() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    let job = JobId::regular(schedule.id, 0, 0);
    let first = format!("{job}-a1");
    let queued = f.store.inspect().execution(&first).await.unwrap();
    assert_eq!(
        (queued.state, queued.started_at, queued.workflow_id),
        (ExecutionState::Queued, None, schedule.workflow_id)
    );
    assert_eq!(queued.scheduled_for, "2026-01-01T00:01:00Z".parse::<Timestamp>().unwrap());
    assert!(f.store.inspect().execution(&format!("{job}-a2")).await.is_err(), "only the next attempt is queued");
    f.advance(61);
    let started = f.start_next().await;
    assert_eq!(started.job, job);
    assert_eq!(started.execution.id.to_string(), format!("{job}-a1"));
    assert!(f.delayed().await.is_empty());
    assert!(f.redis.list(&f.keys.ready(&f.queue)).await.is_empty());
    assert_eq!(f.redis.hash(&f.keys.running(&f.queue)).await[&job.to_string()], WORKER);
    assert_eq!(f.redis.zset(&f.keys.leases(&f.queue)).await, [(job.to_string(), ms("2026-01-01T00:01:31Z"))]);
    let running = f.store.inspect().execution(&started.execution.id.to_string()).await.unwrap();
    assert_eq!(running, started.execution);
    assert_eq!(running.scheduled_for, "2026-01-01T00:01:00Z".parse::<Timestamp>().unwrap());
    assert!(
        f.redis.hash(&f.keys.executions(schedule.id)).await.is_empty(),
        "a running execution is read from its job; its record is written once, when it ends"
    );
    let listed = f.store.inspect().executions(schedule.id, 10, None).await.unwrap();
    assert_eq!(listed.items, [started.execution]);
}

#[tokio::test]
async fn success_records_the_execution_and_enqueues_the_next_slot_without_drift() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    f.advance(63); // three seconds late
    let started = f.run_next(Outcome::Succeeded).await;

    let next = JobId::regular(schedule.id, 1, 0);
    assert_eq!(f.delayed().await, [(next.to_string(), ms("2026-01-01T00:02:00Z"))]);
    assert!(!f.redis.exists(&f.keys.job(&started.job)).await);
    assert!(f.redis.hash(&f.keys.running(&f.queue)).await.is_empty());
    assert!(f.redis.zset(&f.keys.leases(&f.queue)).await.is_empty());
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.current_repeat, after.current_retry, after.run_count), (1, 0, 1));
    assert_eq!(after.last_status, Some(ExecutionState::Succeeded));
    assert_eq!(after.live_job, Some(next));
    let recorded = f.store.inspect().execution(&started.execution.id.to_string()).await.unwrap();
    assert_eq!(recorded.state, ExecutionState::Succeeded);
    assert_eq!(recorded.finished_at, Some(f.now()));
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_the_schedule_dies() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10, "retry_max": 2})).await;
    f.advance(10);
    f.run_next(Outcome::Failed("boom".to_string())).await;
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 0, 1).to_string(), ms("2026-01-01T00:00:20Z"))]);
    f.advance(10);
    f.run_next(Outcome::Failed("boom".to_string())).await;
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 0, 2).to_string(), ms("2026-01-01T00:00:40Z"))]);
    f.advance(20);
    f.run_next(Outcome::Failed("boom".to_string())).await;

    assert!(f.delayed().await.is_empty());
    let dead = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((dead.status, dead.current_retry, dead.error_count), (ScheduleStatus::Dead, 3, 3));
    assert_eq!((dead.next_run_at, dead.last_error.as_deref()), (None, Some("boom")));
    assert!(f.redis.zset(&f.keys.schedules_by_status(ScheduleStatus::Active)).await.is_empty());
    assert_eq!(f.redis.zset(&f.keys.schedules_by_status(ScheduleStatus::Dead)).await.len(), 1);
}

#[tokio::test]
async fn a_success_after_failures_resets_the_retry_counter_and_returns_to_the_grid() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    f.run_next(Outcome::Failed("boom".to_string())).await;
    f.advance(10);
    f.run_next(Outcome::Succeeded).await;
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.current_repeat, after.current_retry, after.last_error), (1, 0, None));
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 1, 0).to_string(), ms("2026-01-01T00:00:30Z"))]);
}

#[tokio::test]
async fn a_schedule_is_done_after_repeat_count_successes() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 1, "repeat_count": 2})).await;
    f.advance(1);
    f.run_next(Outcome::Succeeded).await;
    f.advance(1);
    f.run_next(Outcome::Succeeded).await;
    let done = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((done.status, done.current_repeat, done.next_run_at), (ScheduleStatus::Done, 2, None));
    assert!(f.delayed().await.is_empty());
    let page = f.store.inspect().executions(schedule.id, 10, None).await.unwrap();
    let ids: Vec<String> = page.items.iter().map(|e| e.job_id.clone()).collect();
    assert_eq!(ids, [JobId::regular(schedule.id, 1, 0).to_string(), JobId::regular(schedule.id, 0, 0).to_string()]);
}

#[tokio::test]
async fn pause_removes_the_pending_job_and_resume_enqueues_it_one_interval_later() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 30})).await;
    let paused = f.store.pause_schedule(schedule.id).await.unwrap();
    assert_eq!((paused.status, paused.next_run_at, paused.live_job), (ScheduleStatus::Paused, None, None));
    assert!(f.delayed().await.is_empty());
    assert!(!f.redis.exists(&f.keys.job(&JobId::regular(schedule.id, 0, 0))).await);
    assert!(matches!(f.store.pause_schedule(schedule.id).await, Err(Error::Conflict(_))));

    f.advance(100);
    let resumed = f.store.resume_schedule(schedule.id).await.unwrap();
    assert_eq!(resumed.status, ScheduleStatus::Active);
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 0, 0).to_string(), ms("2026-01-01T00:02:10Z"))]);
    assert!(matches!(f.store.resume_schedule(schedule.id).await, Err(Error::Conflict(_))));
}

#[tokio::test]
async fn a_job_running_through_pause_and_resume_leaves_exactly_one_live_job() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    f.store.pause_schedule(schedule.id).await.unwrap();
    f.store.resume_schedule(schedule.id).await.unwrap();
    assert!(f.delayed().await.is_empty(), "the running job is the live job; resume must not add another");

    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    assert_eq!(finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await, FinishOutcome::Recorded);
    assert_eq!(f.delayed().await.len(), 1);
    assert_eq!(f.delayed().await[0].0, JobId::regular(schedule.id, 1, 0).to_string());
}

#[tokio::test]
async fn a_job_finishing_while_paused_enqueues_nothing() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    f.store.pause_schedule(schedule.id).await.unwrap();
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await;
    assert!(f.delayed().await.is_empty());
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.status, after.current_repeat, after.live_job), (ScheduleStatus::Paused, 1, None));
}

#[tokio::test]
async fn a_patch_during_a_run_is_not_overwritten_by_the_finish() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    let patch = serde_json::from_value(json!({"interval_seconds": 100, "name": "renamed"})).unwrap();
    f.store.update_schedule(schedule.id, patch).await.unwrap();
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await;

    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!(
        (after.name.as_str(), &after.recurrence, after.run_count),
        ("renamed", &Recurrence::Interval { seconds: 100 }, 1)
    );
    // The patch re-anchored the grid at now + 100 s; the next slot after now is that anchor.
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 1, 0).to_string(), ms("2026-01-01T00:01:50Z"))]);
}

#[tokio::test]
async fn patching_the_interval_replans_the_pending_job_at_once() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 3600})).await;
    let patch = serde_json::from_value(json!({"interval_seconds": 5, "queue": "fast"})).unwrap();
    let patched = f.store.update_schedule(schedule.id, patch).await.unwrap();
    assert_eq!(patched.next_run_at, Some("2026-01-01T00:00:05Z".parse().unwrap()));
    assert!(f.delayed().await.is_empty());
    let fast = QueueName::parse("fast").unwrap();
    assert_eq!(
        f.redis.zset(&f.keys.delayed(&fast)).await,
        [(JobId::regular(schedule.id, 0, 0).to_string(), ms("2026-01-01T00:00:05Z"))]
    );
}

#[tokio::test]
async fn trigger_runs_an_extra_job_without_touching_the_chain() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    let job = f.store.trigger_schedule(schedule.id).await.unwrap().job;
    assert!(matches!(job, JobId::Manual { .. }));
    let started = f.run_next(Outcome::Succeeded).await;
    assert_eq!(started.job, job);
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.current_repeat, after.run_count, after.next_run_at), (0, 1, schedule.next_run_at));
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 0, 0).to_string(), ms("2026-01-01T00:01:00Z"))]);
}

#[tokio::test]
async fn a_finish_after_redis_lost_its_data_says_the_job_is_gone_not_taken_over() {
    let f = Fixture::new().await;
    f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    f.redis.command(&["FLUSHALL"]).await;
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    assert_eq!(finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await, FinishOutcome::Gone);
}

#[tokio::test]
async fn a_finish_retried_after_its_reply_was_lost_finds_the_job_gone_and_the_end_held() {
    let f = Fixture::new().await;
    f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Failed, f.now(), Some("HTTP 500".to_string()));
    let outcome = Outcome::Failed("HTTP 500".to_string());
    assert!(!f.store.holds_end(&execution).await.unwrap(), "a running execution is not ended");
    assert_eq!(finish_one(&f.store, &started, &execution, &outcome).await, FinishOutcome::Recorded);
    // The worker never saw that answer and sends the end again.
    assert_eq!(finish_one(&f.store, &started, &execution, &outcome).await, FinishOutcome::Gone);
    assert!(f.store.holds_end(&execution).await.unwrap());
    // The same execution ended otherwise (the reconciler's end of an abandoned job) is not this end.
    let mut abandoned = execution.clone();
    abandoned.error = Some("the worker stopped renewing its lease".to_string());
    assert!(!f.store.holds_end(&abandoned).await.unwrap());
}

#[tokio::test]
async fn a_worker_that_lost_its_job_records_nothing() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    f.advance(31);
    assert_eq!(f.store.reconcile().await.unwrap().requeued, 1);
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    assert_eq!(finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await, FinishOutcome::Lost);
    assert_eq!(f.store.renew_lease(&started).await.unwrap(), Renewal::Lost);
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!(after.run_count, 0);
}

#[tokio::test]
async fn an_expired_lease_requeues_the_job_and_closes_the_attempt_without_a_failure() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let first = f.start_next().await;
    f.advance(31);
    let report = f.store.reconcile().await.unwrap();
    assert_eq!(report, ReconcileReport { promoted: 0, requeued: 1, recovered: 0, ..Default::default() });
    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await, [first.job.to_string()]);
    let closed = f.store.inspect().execution(&first.execution.id.to_string()).await.unwrap();
    assert_eq!((closed.state, closed.error.as_deref()), (ExecutionState::Failed, Some("lease_expired")));
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.current_retry, after.error_count), (0, 0));

    let second = f.start_next().await;
    assert_eq!((second.job, second.execution.attempt), (first.job, 2));
}

#[tokio::test]
async fn a_job_abandoned_three_times_counts_as_a_failure() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    for _ in 0..MAX_DELIVERIES {
        f.start_next().await;
        f.advance(31);
        f.store.reconcile().await.unwrap();
    }
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.current_retry, after.error_count), (1, 1));
    assert_eq!(after.last_error.as_deref(), Some("its lease expired 3 times without a finish"));
    assert_eq!(f.delayed().await[0].0, JobId::regular(schedule.id, 0, 1).to_string());
}

#[tokio::test]
async fn graceful_hand_backs_of_a_rolling_deploy_do_not_count_towards_failing_a_job() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    for _ in 0..MAX_DELIVERIES {
        let started = f.start_next().await;
        assert!(f.store.requeue_job(&started, "worker shut down before the job finished").await.unwrap());
    }
    f.start_next().await;
    f.advance(31);
    let report = f.store.reconcile().await.unwrap();
    assert_eq!(report.requeued, 1);
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.current_retry, after.error_count), (0, 0), "not failed: {:?}", after.last_error);
    let job = JobId::regular(schedule.id, 0, 0).to_string();
    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await, [job]);
}

#[tokio::test]
async fn the_reconciler_rebuilds_jobs_lost_from_redis_under_the_same_id() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    let job = JobId::regular(schedule.id, 0, 0);
    f.redis.delete(&[f.keys.delayed(&f.queue), f.keys.job(&job)]).await;
    f.advance(100);
    assert_eq!(
        f.store.reconcile().await.unwrap(),
        ReconcileReport { promoted: 0, requeued: 0, recovered: 1, ..Default::default() }
    );
    // Overdue: runs once, at once.
    assert_eq!(f.delayed().await, [(job.to_string(), f.now().as_millisecond())]);
    assert_eq!(
        f.store.reconcile().await.unwrap(),
        ReconcileReport { promoted: 1, requeued: 0, recovered: 0, ..Default::default() }
    );
    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await, [job.to_string()]);
    assert_eq!(f.store.reconcile().await.unwrap(), ReconcileReport::default());
}

#[tokio::test]
async fn claims_promote_due_jobs_in_bounded_batches_in_due_order() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let count = BATCH + 20;
    for i in 0..count {
        let start = f.now() + SignedDuration::from_secs(i64::try_from(i).unwrap());
        let new =
            serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 3600, "start_at": start}))
                .unwrap();
        f.store.create_schedule(new).await.unwrap();
    }
    f.advance(10_000);
    let first = f.claim().await;
    assert!(matches!(first, Claim::Claimed(_)));
    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await.len(), BATCH - 1);
    assert_eq!(f.delayed().await.len(), 20);
    let mut claimed = 1;
    while let Claim::Claimed(_) = f.claim().await {
        claimed += 1;
    }
    assert_eq!(claimed, count);
}

#[tokio::test]
async fn deleting_a_schedule_while_its_job_runs_still_records_the_run_and_enqueues_nothing() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    f.store.delete_schedule(schedule.id).await.unwrap();
    assert!(matches!(f.store.inspect().schedule(schedule.id).await, Err(Error::NotFound { .. })));
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    let outcome = finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await;
    assert_eq!(outcome, FinishOutcome::RecordedWithoutSchedule);
    assert!(f.delayed().await.is_empty());
    assert!(!f.redis.exists(&f.keys.schedule(schedule.id)).await);
    assert!(f.store.inspect().execution(&execution.id.to_string()).await.is_ok());
    let mut conn = f.redis.connection().await;
    let ttl: i64 = redis::cmd("PTTL").arg(f.keys.executions(schedule.id)).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0, "history of a deleted schedule must expire");
}

#[tokio::test]
async fn execution_history_is_trimmed_to_the_retention_count_every_sixteenth_finish() {
    let f = Fixture::new().await;
    let store = f.store.clone().with_retention(Retention { keep: 3, max_age: SignedDuration::from_hours(1) });
    let schedule = f.schedule(json!({"interval_seconds": 1})).await;
    for finished in 1..=17 {
        f.advance(1);
        let started = started_jobs(&store, store.claim_jobs(&claimant(), 1).await.unwrap()).await.remove(0);
        let mut execution: Execution = started.execution.clone();
        execution.close(ExecutionState::Succeeded, f.now(), None);
        finish_one(&store, &started, &execution, &Outcome::Succeeded).await;
        if finished == 16 {
            let kept = f.redis.zset(&f.keys.execution_times(schedule.id)).await.len();
            assert_eq!(kept, 16, "between trims the history grows past the bound");
        }
    }
    // The 17th finish, with 16 before it, trims back to the bound.
    let kept = f.redis.zset(&f.keys.execution_times(schedule.id)).await;
    assert_eq!(kept.len(), 3);
    assert_eq!(f.redis.hash(&f.keys.executions(schedule.id)).await.len(), 3);
    assert!(kept[0].0.ends_with("-n14-rc0-a1"));
}

#[tokio::test]
async fn workflows_in_use_cannot_be_deleted_and_names_stay_unique() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    assert!(matches!(f.store.delete_workflow(schedule.workflow_id).await, Err(Error::Conflict(_))));
    let name = f.store.inspect().workflow(schedule.workflow_id).await.unwrap().name;
    let duplicate = serde_json::from_value(json!({"name": name, "steps": [{"kind": "log", "message": "x"}]})).unwrap();
    assert!(matches!(f.store.create_workflow(duplicate).await, Err(Error::Conflict(_))));
    f.store.delete_schedule(schedule.id).await.unwrap();
    f.store.delete_workflow(schedule.workflow_id).await.unwrap();
    let home = Keys::new("recur");
    assert!(f.redis.hash(&home.workflow_names()).await.is_empty());
    assert!(f.redis.zset(&home.workflows()).await.is_empty());
    assert!(f.redis.hash(&f.keys.workflow_uses()).await.is_empty(), "a count that reaches 0 leaves no field");
}

#[tokio::test]
async fn a_workflow_is_in_use_while_any_schedule_names_it_through_creates_moves_and_deletes() {
    let f = Fixture::new().await;
    let (first, second) = (f.workflow().await, f.workflow().await);
    let new =
        |workflow: Uuid| serde_json::from_value(json!({"workflow_id": workflow, "interval_seconds": 10})).unwrap();
    let a = f.store.create_schedule(new(first.id)).await.unwrap();
    let b = f.store.create_schedule(new(first.id)).await.unwrap();
    let of_workflow = |id: Uuid| crate::inspect::ScheduleFilter { workflow_id: Some(id), ..Default::default() };
    let listed = |page: crate::inspect::Page<Schedule>| page.items.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(listed(f.store.inspect().schedules(&of_workflow(first.id), 10, None).await.unwrap()), [b.id, a.id]);

    let patch = serde_json::from_value(json!({"workflow_id": second.id})).unwrap();
    f.store.update_schedule(a.id, patch).await.unwrap();
    assert_eq!(listed(f.store.inspect().schedules(&of_workflow(first.id), 10, None).await.unwrap()), [b.id]);
    assert_eq!(listed(f.store.inspect().schedules(&of_workflow(second.id), 10, None).await.unwrap()), [a.id]);
    f.store.delete_schedule(b.id).await.unwrap();
    f.store.delete_workflow(first.id).await.unwrap();
    assert!(matches!(f.store.delete_workflow(second.id).await, Err(Error::Conflict(_))), "a moved schedule uses it");

    // A schedule of a deployment from before the count is in its workflow's old index: it counts until it
    // is deleted.
    let legacy = f.keys.legacy_workflow_schedules(second.id);
    f.redis.command(&["HDEL", &f.keys.workflow_uses(), &second.id.to_string()]).await;
    f.redis.command(&["ZADD", &legacy, "0", &a.id.to_string()]).await;
    assert!(matches!(f.store.delete_workflow(second.id).await, Err(Error::Conflict(_))));
    f.store.delete_schedule(a.id).await.unwrap();
    assert!(!f.redis.exists(&legacy).await, "its last member left the old index");
    f.store.delete_workflow(second.id).await.unwrap();
    assert!(f.redis.hash(&f.keys.workflow_uses()).await.is_empty());
}

#[tokio::test]
async fn a_filter_that_matches_sparsely_then_densely_pages_through_every_match_once() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    // Oldest first: 20 matches, 50 others, 100 matches, 150 others; the walk meets them newest first.
    let mut names = Vec::new();
    for (count, name) in [(20, "match"), (50, "other"), (100, "match"), (150, "other")] {
        names.extend((0..count).map(|i| format!("{name}-{i}")));
    }
    let items = names
        .iter()
        .map(|name| {
            serde_json::from_value(json!({"workflow_id": workflow.id, "name": name, "interval_seconds": 60})).unwrap()
        })
        .collect();
    let created = f.store.create_schedules(items).await.unwrap();
    let expected: Vec<Uuid> =
        created.iter().rev().filter(|schedule| schedule.name.starts_with("match")).map(|s| s.id).collect();

    let filter = crate::inspect::ScheduleFilter { name: Some("match".to_string()), ..Default::default() };
    let (mut listed, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = f.store.inspect().schedules(&filter, 30, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 30);
        listed.extend(page.items.iter().map(|schedule| schedule.id));
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, expected, "every match once, newest first, over {pages} pages");
}

#[tokio::test]
async fn listings_page_newest_first_with_a_cursor() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        f.advance(1);
        let new = serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 10})).unwrap();
        ids.push(f.store.create_schedule(new).await.unwrap().id);
    }
    f.store.pause_schedule(ids[1]).await.unwrap();
    let inspect = f.store.inspect();
    let all = crate::inspect::ScheduleFilter::default();
    let first = inspect.schedules(&all, 2, None).await.unwrap();
    assert_eq!(first.items.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[4], ids[3]]);
    let second = inspect.schedules(&all, 2, first.next_cursor.as_deref()).await.unwrap();
    assert_eq!(second.items.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    let last = inspect.schedules(&all, 2, second.next_cursor.as_deref()).await.unwrap();
    assert_eq!((last.items.len(), last.next_cursor), (1, None));
    let paused = crate::inspect::ScheduleFilter {
        status: Some(ScheduleStatus::Paused),
        workflow_id: Some(workflow.id),
        ..Default::default()
    };
    let page = inspect.schedules(&paused, 50, None).await.unwrap();
    assert_eq!(page.items.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[1]]);
    // A name is matched in part and in any case; default names end with the id's tail.
    let tail = ids[3].simple().to_string()[24..].to_uppercase();
    let named = crate::inspect::ScheduleFilter { name: Some(tail), ..Default::default() };
    assert_eq!(
        inspect.schedules(&named, 50, None).await.unwrap().items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ids[3]]
    );
    let elsewhere =
        crate::inspect::ScheduleFilter { queue: Some(QueueName::parse("mail").unwrap()), ..Default::default() };
    assert!(inspect.schedules(&elsewhere, 50, None).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_cursor_keeps_working_when_its_item_is_deleted_and_among_items_created_in_the_same_millisecond() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        let new = serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 10})).unwrap();
        created.push(f.store.create_schedule(new).await.unwrap().id);
    }
    let inspect = f.store.inspect();
    let all = crate::inspect::ScheduleFilter::default();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = inspect.schedules(&all, 2, cursor.as_deref()).await.unwrap();
        seen.extend(page.items.iter().map(|s| s.id));
        let Some(next) = page.next_cursor else { break };
        // The item the cursor names goes away before the next page is asked for.
        f.store.delete_schedule(*seen.last().unwrap()).await.unwrap();
        cursor = Some(next);
    }
    let mut expected = created.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected, "every schedule once, newest (then highest id) first");
}

#[tokio::test]
async fn a_job_handed_back_on_shutdown_is_first_in_line_and_its_attempt_is_closed() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    assert!(f.store.requeue_job(&started, "worker shut down before the job finished").await.unwrap());

    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await, [started.job.to_string()]);
    assert!(f.redis.hash(&f.keys.running(&f.queue)).await.is_empty());
    assert!(f.redis.zset(&f.keys.leases(&f.queue)).await.is_empty());
    let closed = f.store.inspect().execution(&started.execution.id.to_string()).await.unwrap();
    assert_eq!(
        (closed.state, closed.error.as_deref()),
        (ExecutionState::Failed, Some("worker shut down before the job finished"))
    );
    let after = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((after.error_count, after.current_retry, after.live_job), (0, 0, Some(started.job)));
    assert!(!f.store.requeue_job(&started, "again").await.unwrap(), "a job no longer held cannot be handed back");
}

#[tokio::test]
async fn claims_take_queues_in_the_order_given() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let urgent = QueueName::parse("urgent").unwrap();
    for queue in ["default", "urgent"] {
        let body = json!({"workflow_id": workflow.id, "interval_seconds": 60, "queue": queue, "start_at": f.now()});
        f.store.create_schedule(serde_json::from_value(body).unwrap()).await.unwrap();
    }
    let both = Claimant { queues: vec![urgent.clone(), f.queue.clone()], ..claimant() };
    let mut claimed = Vec::new();
    while let Claim::Claimed(jobs) = f.store.claim_jobs(&both, 1).await.unwrap() {
        claimed.extend(jobs.into_iter().map(|(_, start)| match start {
            Start::Started(started) => started.queue,
            other => panic!("{other:?}"),
        }));
    }
    assert_eq!(claimed, [urgent, f.queue.clone()]);
    assert!(matches!(f.store.claim_jobs(&both, 1).await.unwrap(), Claim::Empty { next_due: None }));
}

#[tokio::test]
async fn one_worker_per_interval_takes_the_reconciler_turn() {
    let f = Fixture::new().await;
    let every = Duration::from_secs(30);
    assert_eq!(f.store.take_reconciler_turns(every).await.unwrap(), [0]);
    assert!(f.store.take_reconciler_turns(every).await.unwrap().is_empty(), "a second worker in the same interval");
    f.advance(26);
    assert!(f.store.take_reconciler_turns(every).await.unwrap().is_empty());
    // A tick a little early (timers are not exact) still takes its turn, rather than waiting a whole interval.
    f.clock.advance(SignedDuration::from_millis(4_000 - 5));
    assert_eq!(f.store.take_reconciler_turns(every).await.unwrap(), [0]);
    assert_eq!(
        f.redis.connection().await.get::<_, i64>(f.keys.reconciled_at()).await.unwrap(),
        f.now().as_millisecond()
    );
}

#[tokio::test]
async fn a_batch_claim_takes_up_to_its_count_in_due_order_and_starts_them_all_in_the_same_call() {
    let f = Fixture::new().await;
    let mut ids = Vec::new();
    for seconds in [3, 1, 2, 5, 4] {
        ids.push((seconds, f.schedule(json!({"interval_seconds": seconds})).await.id));
    }
    f.advance(10);
    let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 3).await.unwrap() else { panic!("nothing due") };
    ids.sort();
    let in_due_order: Vec<JobId> = ids.iter().take(3).map(|(_, id)| JobId::regular(*id, 0, 0)).collect();
    assert_eq!(claimed.iter().map(|(job, _)| *job).collect::<Vec<_>>(), in_due_order);
    assert_eq!(f.redis.hash(&f.keys.running(&f.queue)).await.len(), 3);
    assert_eq!(f.redis.zset(&f.keys.leases(&f.queue)).await.len(), 3);
    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await.len(), 2, "the rest of the promoted batch waits");

    let started: Vec<(JobId, u32, Option<u32>)> = claimed
        .iter()
        .map(|(_, start)| match start {
            Start::Started(started) => (started.job, started.execution.attempt, started.workflow_version),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(started, in_due_order.iter().map(|job| (*job, 1, Some(1))).collect::<Vec<_>>());
    let mut executions: Vec<String> = claimed
        .iter()
        .filter_map(|(_, start)| match start {
            Start::Started(started) => Some(started.execution.id.to_string()),
            _ => None,
        })
        .collect();
    executions.sort();
    let mut indexed: Vec<String> =
        f.redis.zset(&f.keys.execution_index()).await.into_iter().map(|(id, _)| id).collect();
    indexed.sort();
    assert_eq!(indexed, executions, "every started execution is in the history");
    for job in &in_due_order {
        let record = f.redis.hash(&f.keys.job(job)).await;
        assert_eq!((record["attempt"].as_str(), record["worker"].as_str()), ("1", WORKER), "{record:?}");
    }
}

#[tokio::test]
async fn a_batch_answers_each_job_in_order_whatever_happened_to_it() {
    let f = Fixture::new().await;
    let kept = f.schedule(json!({"interval_seconds": 1})).await;
    let deleted = f.schedule(json!({"interval_seconds": 2})).await;
    f.advance(5);
    // The second job's record outlives its schedule (deleted by hand, as a damaged Redis might leave it).
    f.redis.delete(&[f.keys.schedule(deleted.id)]).await;
    let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 10).await.unwrap() else { panic!("nothing due") };
    assert_eq!(claimed.len(), 2);
    assert!(matches!(&claimed[0].1, Start::Started(started) if started.schedule.id == kept.id), "{claimed:?}");
    assert!(matches!(claimed[1].1, Start::Dropped), "{claimed:?}");
    assert!(!f.redis.exists(&f.keys.job(&JobId::regular(deleted.id, 0, 0))).await);
    assert_eq!(f.redis.hash(&f.keys.running(&f.queue)).await.len(), 1, "only the started job is leased");
}

#[tokio::test]
async fn a_batch_claim_whose_reply_is_lost_strands_none_of_its_jobs() {
    let f = Fixture::new().await;
    let ids =
        [f.schedule(json!({"interval_seconds": 1})).await.id, f.schedule(json!({"interval_seconds": 2})).await.id];
    f.advance(5);
    // The worker claims two jobs and dies before it hears the answer.
    let Claim::Claimed(lost) = f.store.claim_jobs(&claimant(), 2).await.unwrap() else { panic!("nothing due") };
    assert_eq!(lost.len(), 2);
    assert!(matches!(f.claim().await, Claim::Empty { next_due: None }), "both are leased to the dead worker");
    f.advance(31);
    let queue = f.queue.clone();
    assert_eq!(f.store.requeue_expired_jobs(&queue).await.unwrap(), 2);
    let mut rerun = Vec::new();
    for _ in ids {
        let started = f.start_next().await;
        assert_eq!(started.execution.attempt, 2, "the lost claim counted a delivery");
        rerun.push(started.job);
    }
    rerun.sort_by_key(JobId::schedule);
    assert_eq!(rerun, ids.map(|id| JobId::regular(id, 0, 0)));
}

#[tokio::test]
async fn one_call_finishes_a_batch_each_on_its_own_and_replans_one_whose_schedule_changed() {
    let f = Fixture::new().await;
    let ids = [
        f.schedule(json!({"interval_seconds": 10})).await.id,
        f.schedule(json!({"interval_seconds": 20})).await.id,
        f.schedule(json!({"interval_seconds": 30})).await.id,
    ];
    f.advance(30);
    let mut started = started_jobs(&f.store, f.store.claim_jobs(&claimant(), 3).await.unwrap()).await;
    started.sort_by_key(|started| started.job.schedule());
    // While they run: the first schedule is patched, the third job is taken from this worker.
    f.store.update_schedule(ids[0], serde_json::from_value(json!({"interval_seconds": 5})).unwrap()).await.unwrap();
    assert!(f.store.requeue_job(&started[2], "taken over").await.unwrap());
    f.advance(1);
    let ends: Vec<JobEnd> = started.iter().map(|started| succeeded(started.clone(), f.now())).collect();
    let outcomes = f.store.finish_jobs(&ends).await.unwrap();
    assert_eq!(outcomes, [FinishOutcome::Recorded, FinishOutcome::Recorded, FinishOutcome::Lost]);
    assert!(f.redis.hash(&f.keys.running(&f.queue)).await.is_empty(), "both recorded jobs released their claims");
    assert!(f.redis.zset(&f.keys.leases(&f.queue)).await.is_empty());

    let patched = f.store.inspect().schedule(ids[0]).await.unwrap();
    assert_eq!(patched.recurrence, Recurrence::Interval { seconds: 5 }, "the finish kept the concurrent patch");
    assert_eq!((patched.run_count, patched.current_repeat), (1, 1));
    let second = f.store.inspect().schedule(ids[1]).await.unwrap();
    assert_eq!(second.next_run_at, Some("2026-01-01T00:00:40Z".parse().unwrap()));
    let third = f.store.inspect().schedule(ids[2]).await.unwrap();
    assert_eq!(third.run_count, 0, "a finish that lost its job records nothing");
    let mut delayed: Vec<String> = f.delayed().await.into_iter().map(|(job, _)| job).collect();
    delayed.sort();
    let mut expected = vec![JobId::regular(ids[0], 1, 0).to_string(), JobId::regular(ids[1], 1, 0).to_string()];
    expected.sort();
    assert_eq!(delayed, expected, "one next job per recorded finish; the lost one waits in its ready list");
}

#[tokio::test]
async fn a_bulk_create_writes_every_schedule_and_its_first_job_across_several_calls() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let count = BATCH * 2 + 50;
    let items: Vec<_> = (0..count)
        .map(|i| serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 60 + i})).unwrap())
        .collect();
    let created = f.store.create_schedules(items).await.unwrap();
    assert_eq!(created.len(), count);
    assert_eq!(created[7].recurrence, Recurrence::Interval { seconds: 67 }, "answers keep the request's order");
    assert_eq!(f.redis.zset(&f.keys.schedules_by_status(ScheduleStatus::Active)).await.len(), count);
    let delayed = f.delayed().await;
    assert_eq!(delayed.len(), count);
    for schedule in &created {
        let job = JobId::regular(schedule.id, 0, 0).to_string();
        assert!(delayed.iter().any(|(id, due)| *id == job && Some(*due) == schedule.next_run_at.map(millis)));
    }
}

#[tokio::test]
async fn a_bulk_create_with_any_bad_item_lists_each_one_and_writes_nothing() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let unknown = Uuid::new_v4();
    let items = [
        json!({"workflow_id": workflow.id, "interval_seconds": 60}),
        json!({"workflow_id": workflow.id, "interval_seconds": 0}),
        json!({"workflow_id": unknown, "interval_seconds": 60}),
        json!({"workflow_id": workflow.id, "interval_seconds": 60, "retry_max": 101}),
    ]
    .into_iter()
    .map(|body| serde_json::from_value(body).unwrap())
    .collect();
    let Err(Error::InvalidItems { items }) = f.store.create_schedules(items).await else { panic!("accepted") };
    let described: Vec<(usize, String)> = items.iter().map(|(index, error)| (*index, format!("{error:?}"))).collect();
    assert_eq!(described.iter().map(|(index, _)| *index).collect::<Vec<_>>(), [1, 2, 3], "{described:?}");
    assert!(matches!(items[1].1, Error::UnknownWorkflow(id) if id == unknown));
    assert!(matches!(&items[0].1, Error::Invalid { field: Some(field), .. } if field == "interval_seconds"));
    assert!(f.redis.zset(&f.keys.schedules_by_status(ScheduleStatus::Active)).await.is_empty());
    assert!(f.delayed().await.is_empty());
}

#[tokio::test]
async fn a_reconciler_pass_walks_a_bounded_number_of_schedules_and_the_next_resumes_where_it_stopped() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let count = WALK_BUDGET + 50;
    let mut created = Vec::new();
    for chunk in [WALK_BUDGET, 50] {
        let items = (0..chunk)
            .map(|_| serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 60})).unwrap())
            .collect();
        created.extend(f.store.create_schedules(items).await.unwrap());
    }
    // Every pending job is lost, as to a flushed queue.
    let mut lost = vec![f.keys.delayed(&f.queue)];
    lost.extend(created.iter().map(|schedule| f.keys.job(&JobId::regular(schedule.id, 0, 0))));
    f.redis.delete(&lost).await;

    let first = f.store.reconcile().await.unwrap();
    assert_eq!(first.recovered, WALK_BUDGET as u64);
    assert_eq!(f.store.inspect().reconcile_cursor(&f.keys).await.unwrap(), WALK_BUDGET);
    let second = f.store.reconcile().await.unwrap();
    assert_eq!(second.recovered, 50, "the next pass resumes where the first stopped");
    assert_eq!(f.store.inspect().reconcile_cursor(&f.keys).await.unwrap(), 0, "and the walk starts over after the end");
    assert_eq!(f.delayed().await.len(), count);
}

#[tokio::test]
async fn a_schedule_that_runs_rarely_is_trimmed_on_every_finish() {
    let f = Fixture::new().await;
    // Runs 60 s apart are a quiet spell for a one-hour retention age (a 64th of it is 56 s).
    let store = f.store.clone().with_retention(Retention { keep: 1, max_age: SignedDuration::from_hours(1) });
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    for _ in 0..3 {
        f.advance(60);
        let started = started_jobs(&store, store.claim_jobs(&claimant(), 1).await.unwrap()).await.remove(0);
        let mut execution: Execution = started.execution.clone();
        execution.close(ExecutionState::Succeeded, f.now(), None);
        finish_one(&store, &started, &execution, &Outcome::Succeeded).await;
        assert_eq!(f.redis.zset(&f.keys.execution_times(schedule.id)).await.len(), 1);
    }
}

#[tokio::test]
async fn an_ad_hoc_run_is_a_bare_job_that_runs_records_its_execution_and_leaves_no_schedule() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let runs = vec![
        serde_json::from_value(json!({"payload": {"n": 1}, "timeout_seconds": 5})).unwrap(),
        serde_json::from_value(json!({})).unwrap(),
    ];
    let queued = f.store.run_workflow_many(workflow.id, runs).await.unwrap();
    let jobs: Vec<String> = queued.iter().map(|run| run.job.to_string()).collect();
    assert_eq!(f.redis.list(&f.keys.ready(&f.queue)).await, jobs, "due now, straight to the ready list in order");
    let later = f.now() + SignedDuration::from_secs(60);
    let one_shot = serde_json::from_value(json!({"run_at": later})).unwrap();
    let one_shot = f.store.run_workflow(workflow.id, one_shot).await.unwrap();
    let delayed = vec![(one_shot.job.to_string(), millis(later))];
    assert_eq!(f.redis.zset(&f.keys.delayed(&f.queue)).await, delayed, "a later run waits in the delayed set");
    let run_id = queued[0].job.schedule();
    assert!(!f.redis.exists(&f.keys.schedule(run_id)).await, "no schedule record");
    let stored = f.redis.hash(&f.keys.job(&queued[0].job)).await;
    let mut fields: Vec<&str> = stored.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["due_ms", "payload", "queue", "timeout_seconds", "workflow_id"]);
    assert!(!f.redis.exists(&f.keys.job(&queued[1].job)).await, "a run with nothing its id cannot say has no hash");
    let tags = f.redis.hash(&f.keys.run_workflows()).await;
    assert_eq!(tags, HashMap::from([(BareRun::tag_of(workflow.id), workflow.id.to_string())]));

    f.advance(1);
    let first = f.start_next().await;
    assert_eq!(first.job, queued[0].job);
    assert_eq!((first.schedule.workflow_id, first.schedule.timeout_seconds), (workflow.id, 5));
    assert_eq!(first.schedule.payload.get("n"), Some(&json!(1)));
    assert_eq!(first.execution.scheduled_for, f.now() - SignedDuration::from_secs(1));
    let mut execution = first.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    let outcome = finish_one(&f.store, &first, &execution, &Outcome::Succeeded).await;
    assert_eq!(outcome, FinishOutcome::RecordedWithoutSchedule);
    let recorded = f.store.inspect().execution(&first.execution.id.to_string()).await.unwrap();
    assert_eq!((recorded.state, recorded.schedule_id), (ExecutionState::Succeeded, run_id));
    assert!(!f.redis.exists(&f.keys.job(&first.job)).await);
    assert!(!f.redis.exists(&f.keys.schedule(run_id)).await, "a finish creates no schedule record either");
    assert!(!f.redis.exists(&f.keys.executions(run_id)).await, "no history key of its own");
    let first_id = first.execution.id.to_string();
    assert!(f.redis.hash(&f.keys.run_executions()).await.contains_key(&first_id), "in the shard's run history");

    // A run whose worker died is handed back when its lease expires, its attempt closed, and runs again.
    let second = f.start_next().await;
    f.advance(31);
    assert_eq!(f.store.reconcile().await.unwrap().requeued, 1);
    let closed = f.store.inspect().execution(&second.execution.id.to_string()).await.unwrap();
    assert_eq!((closed.state, closed.error.as_deref()), (ExecutionState::Failed, Some("lease_expired")));
    let again = f.start_next().await;
    assert_eq!((again.job, again.execution.attempt), (second.job, 2));
    assert!(!f.redis.exists(&f.keys.schedule(second.job.schedule())).await);
    // Its history, by its id, without a schedule index: the running attempt, then the abandoned one.
    let history = f.store.inspect().executions(second.job.schedule(), 10, None).await.unwrap();
    let listed: Vec<(u32, ExecutionState)> = history.items.iter().map(|e| (e.attempt, e.state)).collect();
    assert_eq!(listed, [(2, ExecutionState::Running), (1, ExecutionState::Failed)]);

    // Past the retention age, a reconciler pass drops the records with their execution index entries.
    let store = f.store.clone().with_retention(Retention { keep: 1_000, max_age: SignedDuration::from_hours(1) });
    f.advance(3_601);
    store.reconcile().await.unwrap();
    assert!(matches!(f.store.inspect().execution(&first_id).await, Err(Error::NotFound { .. })));
    let kept: Vec<String> = f.redis.hash(&f.keys.run_executions()).await.into_keys().collect();
    assert!(!kept.contains(&first_id), "{kept:?}");
    assert!(f.redis.zset(&f.keys.execution_index()).await.iter().all(|(id, _)| *id != first_id));
}

#[tokio::test]
async fn a_bare_run_waits_as_its_id_alone_and_reads_cancels_and_runs_as_a_run_with_a_record_does() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let later = f.now() + SignedDuration::from_secs(60);
    let at =
        |run_at: Timestamp, queue: &str| serde_json::from_value(json!({"run_at": run_at, "queue": queue})).unwrap();
    let runs = f.store.run_workflow_many(workflow.id, vec![at(later, "mail"), at(later, "default")]).await.unwrap();
    for run in &runs {
        assert_eq!(BareRun::of(&run.job).map(|bare| bare.due_ms), Some(millis(later)), "{}", run.job);
        assert!(!f.redis.exists(&f.keys.job(&run.job)).await, "no hash while it waits");
    }
    // Read by id while it waits, whichever queue holds it: queued, of its workflow, due at its run_at.
    let first = ExecutionId { job: runs[0].job, attempt: 1 }.to_string();
    let queued = f.store.inspect().execution(&first).await.unwrap();
    assert_eq!((queued.state, queued.workflow_id, queued.scheduled_for), (ExecutionState::Queued, workflow.id, later));
    // Cancelled while it waits: out of its queue, recorded cancelled.
    assert_eq!(f.store.cancel_execution(&first, false).await.unwrap(), Cancelled::BeforeStart);
    assert_eq!(f.store.inspect().execution(&first).await.unwrap().state, ExecutionState::Cancelled);
    let mail = QueueName::parse("mail").unwrap();
    assert!(f.redis.zset(&f.keys.delayed(&mail)).await.is_empty(), "out of its queue");
    assert_eq!(f.redis.zset(&f.keys.delayed(&f.queue)).await, [(runs[1].job.to_string(), millis(later))]);
    // The other starts when due, as a run of its workflow due then, and has its record from then on.
    f.advance(60);
    let started = f.start_next().await;
    assert_eq!(started.job, runs[1].job);
    assert_eq!((started.schedule.workflow_id, started.execution.scheduled_for), (workflow.id, later));
    let record = f.redis.hash(&f.keys.job(&started.job)).await;
    assert_eq!(record.get("workflow_id"), Some(&workflow.id.to_string()));
    let running = f.store.inspect().execution(&started.execution.id.to_string()).await.unwrap();
    assert_eq!((running.state, running.scheduled_for), (ExecutionState::Running, later));
    // The id of a bare run in no queue and without a record names no execution.
    let never = ExecutionId { job: JobId::regular(BareRun::new_id(workflow.id, millis(later)), 0, 0), attempt: 1 };
    assert!(matches!(f.store.inspect().execution(&never.to_string()).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_run_whose_workflow_tag_another_workflow_holds_is_queued_with_a_record_and_runs_its_own_workflow() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let holder = Uuid::now_v7().to_string();
    f.redis.command(&["HSET", &f.keys.run_workflows(), &BareRun::tag_of(workflow.id), &holder]).await;
    let run = f.store.run_workflow(workflow.id, serde_json::from_value(json!({})).unwrap()).await.unwrap();
    let record = f.redis.hash(&f.keys.job(&run.job)).await;
    assert_eq!(record.get("workflow_id"), Some(&workflow.id.to_string()));
    let started = f.start_next().await;
    assert_eq!((started.job, started.schedule.workflow_id), (run.job, workflow.id));
}

#[tokio::test]
async fn a_reconciler_pass_drops_every_aged_run_record_a_batch_at_a_time_and_keeps_the_recent_ones() {
    let f = Fixture::new().await;
    let store = f.store.clone().with_retention(Retention { keep: 1_000, max_age: SignedDuration::from_hours(1) });
    // Two and a half batches of runs that started two hours ago, and one that started a minute ago.
    let started_ms = |ago_seconds: i64| millis(f.now()) - ago_seconds * 1_000;
    let (aged, recent) = (BATCH * 5 / 2, format!("{}-a1", JobId::regular(Uuid::new_v4(), 0, 0)));
    let mut entries: Vec<(i64, String)> =
        (0..aged).map(|_| (started_ms(7_200), format!("{}-a1", JobId::regular(Uuid::new_v4(), 0, 0)))).collect();
    entries.push((started_ms(60), recent.clone()));
    let records: Vec<(String, String)> = entries.iter().map(|(_, id)| (id.clone(), "{}".to_string())).collect();
    let mut conn = f.redis.connection().await;
    let () = conn.zadd_multiple(f.keys.execution_index(), &entries).await.unwrap();
    let () = conn.hset_multiple(f.keys.run_executions(), &records).await.unwrap();
    store.reconcile().await.unwrap();
    let kept: Vec<String> = f.redis.hash(&f.keys.run_executions()).await.into_keys().collect();
    assert_eq!(kept, std::slice::from_ref(&recent));
    let indexed: Vec<String> = f.redis.zset(&f.keys.execution_index()).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(indexed, [recent]);
}

#[tokio::test]
async fn one_batch_of_finishes_ends_runs_and_schedule_jobs_each_in_its_own_way_answering_in_order() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    let run = f.store.run_workflow(schedule.workflow_id, serde_json::from_value(json!({})).unwrap()).await.unwrap();
    f.advance(61);
    let (first, second) = (f.start_next().await, f.start_next().await);
    let ends: Vec<JobEnd> = [first, second].into_iter().map(|started| succeeded(started, f.now())).collect();
    let outcomes = f.store.finish_jobs(&ends).await.unwrap();
    assert_eq!(outcomes, outcomes_with_run(&ends, run.job));
    for end in &ends {
        let recorded = f.store.inspect().execution(&end.execution.id.to_string()).await.unwrap();
        assert_eq!(recorded.state, ExecutionState::Succeeded);
        assert!(!f.redis.exists(&f.keys.job(&end.started.job)).await);
    }
    assert!(f.redis.hash(&f.keys.running(&f.queue)).await.is_empty(), "both claims released");
    let moved_on = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!((moved_on.run_count, moved_on.live_job.is_some()), (1, true), "the schedule's next job is queued");
}

#[tokio::test]
async fn a_claim_records_the_ends_it_carries_first_and_claims_the_next_jobs_in_the_same_call() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    let run_now = || f.store.run_workflow(schedule.workflow_id, serde_json::from_value(json!({})).unwrap());
    let run = run_now().await.unwrap();
    f.advance(61);
    let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 2).await.unwrap() else { panic!("nothing due") };
    let later = run_now().await.unwrap();
    let ends: Vec<JobEnd> = claimed
        .into_iter()
        .map(|(_, start)| {
            let Start::Started(started) = start else { panic!("not started: {start:?}") };
            succeeded(*started, f.now())
        })
        .collect();
    let ended: Vec<JobId> = ends.iter().map(|end| end.started.job).collect();
    assert!(ended.contains(&schedule.planned_job()) && ended.contains(&run.job), "claimed {ended:?}");

    let calls_before = f.redis.info_field("commandstats", "cmdstat_evalsha").await;
    let (outcomes, claim) = f.store.finish_and_claim(&claimant(), 4, &ends).await.unwrap();
    let calls_after = f.redis.info_field("commandstats", "cmdstat_evalsha").await;
    let calls = |stat: Option<String>| -> u64 {
        let stat = stat.expect("evalsha ran");
        stat.split(',').find_map(|part| part.strip_prefix("calls=")).unwrap().parse().unwrap()
    };
    assert_eq!(calls(calls_after) - calls(calls_before), 1, "one script call for both");
    assert_eq!(outcomes, outcomes_with_run(&ends, run.job), "one outcome per end, in order");
    for end in &ends {
        let recorded = f.store.inspect().execution(&end.execution.id.to_string()).await.unwrap();
        assert_eq!(recorded.state, ExecutionState::Succeeded);
    }
    let Claim::Claimed(claimed) = claim else { panic!("the run still due was not claimed") };
    let claimed: Vec<JobId> = claimed.iter().map(|(job, _)| *job).collect();
    assert_eq!(claimed, [later.job], "the schedule's next job is not due for a minute");
    let running: Vec<String> = f.redis.hash(&f.keys.running(&f.queue)).await.into_keys().collect();
    assert_eq!(running, [later.job.to_string()], "the ended claims were released, the new one taken");
    let moved_on = f.store.inspect().schedule(schedule.id).await.unwrap();
    assert_eq!(moved_on.run_count, 1, "the schedule moved on");
}

#[tokio::test]
async fn a_run_held_by_a_worker_named_by_an_empty_id_finishes_as_held_not_as_pending() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let run = f.store.run_workflow(workflow.id, serde_json::from_value(json!({})).unwrap()).await.unwrap();
    let nameless = Claimant { id: String::new(), ..claimant() };
    let Some((job, Start::Started(started))) = f.claim_for(&nameless).await else { panic!("the run did not start") };
    assert_eq!(job, run.job);
    let mut execution = started.execution.clone();
    execution.close(ExecutionState::Succeeded, f.now(), None);
    let outcome = finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await;
    assert_eq!(outcome, FinishOutcome::RecordedWithoutSchedule);
    assert!(f.redis.hash(&f.keys.running(&f.queue)).await.is_empty(), "its claim released");
}

#[tokio::test]
async fn a_worker_hands_back_at_once_the_jobs_of_a_claim_whose_reply_it_lost() {
    let f = Fixture::new().await;
    f.schedule(json!({"interval_seconds": 1})).await;
    f.schedule(json!({"interval_seconds": 2})).await;
    f.advance(5);
    let running = f.start_next().await;
    // The next claim lands in Redis, but its reply never reaches the worker.
    let Claim::Claimed(lost) = f.store.claim_jobs(&claimant(), 1).await.unwrap() else { panic!("nothing due") };
    let lost_job = lost[0].0;
    let handed_back = f.store.hand_back_unseen_claims(&claimant(), &[running.job].into()).await.unwrap();
    assert_eq!(handed_back, 1);
    let closed = f.store.inspect().execution(&format!("{lost_job}-a1")).await.unwrap();
    assert_eq!((closed.state, closed.error.as_deref()), (ExecutionState::Failed, Some(CLAIM_REPLY_LOST)));
    // Claimable again at once, not after its lease; the job the worker runs is still its own.
    let again = f.start_next().await;
    assert_eq!((again.job, again.execution.attempt), (lost_job, 2));
    assert_eq!(
        f.redis.hash(&f.keys.running(&f.queue)).await.get(&running.job.to_string()).map(String::as_str),
        Some(WORKER)
    );
}

#[tokio::test]
async fn a_claim_runs_the_jobs_it_can_read_and_leaves_one_whose_schedule_is_corrupt_to_its_lease() {
    let f = Fixture::new().await;
    let start = json!(crate::model::rfc3339(f.now()));
    let broken = f.schedule(json!({"interval_seconds": 60, "start_at": start})).await;
    let healthy = f.schedule(json!({"interval_seconds": 60, "start_at": start})).await;
    let broken_key = f.keys.schedule(broken.id);
    f.redis.command(&["HSET", &broken_key, "status", "sleepy"]).await;

    let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 10).await.unwrap() else { panic!("nothing claimed") };
    let mut outcome: Vec<(Uuid, &str)> = claimed
        .iter()
        .map(|(job, start)| {
            let kind = match start {
                Start::Started(_) => "started",
                Start::Unreadable { key, .. } if *key == broken_key => "unreadable",
                _ => "other",
            };
            (job.schedule(), kind)
        })
        .collect();
    outcome.sort();
    let mut expected = vec![(broken.id, "unreadable"), (healthy.id, "started")];
    expected.sort();
    assert_eq!(outcome, expected);
    let listed = f.store.inspect().corrupt_records().await.unwrap();
    assert!(listed[&broken_key].contains("status"), "{listed:?}");

    // Its lease runs out: it is handed back as it stands, not failed, and the pass goes on.
    f.advance(31);
    f.store.reconcile().await.unwrap();
    let ready = f.redis.list(&f.keys.ready(&f.queue)).await;
    assert!(ready.contains(&broken.planned_job().to_string()), "{ready:?}");
}

#[tokio::test]
async fn a_lost_queue_index_is_rebuilt_from_the_schedules_so_expired_leases_there_are_handed_back() {
    let f = Fixture::new().await;
    let queue = QueueName::parse("mail").unwrap();
    let start = json!(crate::model::rfc3339(f.now()));
    let schedule = f.schedule(json!({"interval_seconds": 60, "queue": "mail", "start_at": start})).await;
    let mail_worker = Claimant { queues: vec![queue.clone()], ..claimant() };
    let Claim::Claimed(claimed) = f.store.claim_jobs(&mail_worker, 1).await.unwrap() else { panic!("no claim") };
    assert!(matches!(claimed[0].1, Start::Started(_)));
    // The worker dies with the job, and an operator deletes the queue index.
    f.redis.delete(&[f.keys.queues()]).await;
    f.advance(31);

    f.store.reconcile().await.unwrap();
    let report = f.store.reconcile().await.unwrap();
    assert_eq!(report.requeued, 1, "{report:?}");
    assert_eq!(f.redis.list(&f.keys.ready(&queue)).await, [schedule.planned_job().to_string()]);
}

#[tokio::test]
async fn a_listing_of_big_executions_stops_at_its_byte_budget_and_the_cursor_gives_the_rest() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    // Executions as big as the worker stores them (256 KiB at most).
    for _ in 0..40 {
        f.advance(10);
        let started = f.start_next().await;
        let mut execution = started.execution.clone();
        execution.close(ExecutionState::Succeeded, f.now(), None);
        execution.output = Some(json!("x".repeat(250 * 1024)));
        assert_eq!(finish_one(&f.store, &started, &execution, &Outcome::Succeeded).await, FinishOutcome::Recorded);
    }
    let inspect = f.store.inspect();
    let first = inspect.executions(schedule.id, 50, None).await.unwrap();
    let size = serde_json::to_vec(&first.items).unwrap().len();
    assert!(first.items.len() < 40 && size <= 4 * 1024 * 1024 + 256 * 1024, "{} items, {size} B", first.items.len());
    let rest = inspect.executions(schedule.id, 50, first.next_cursor.as_deref()).await.unwrap();
    let rest = [rest.items, inspect.executions(schedule.id, 50, rest.next_cursor.as_deref()).await.unwrap().items];
    assert_eq!(first.items.len() + rest[0].len() + rest[1].len(), 40, "every execution once, over the pages");
}

#[tokio::test]
async fn a_heartbeat_measures_how_far_the_workers_clock_is_off_redis() {
    // The fixture's clock stands at 2026-01-01; Redis's is the machine's.
    let f = Fixture::new().await;
    let skew = f.store.record_worker_heartbeat("w", &[], Duration::from_secs(60)).await.unwrap();
    let expected = f.now().duration_since(Timestamp::now());
    assert!((skew - expected).abs() < SignedDuration::from_secs(1), "measured {skew:#}, expected about {expected:#}");
    assert_eq!(
        f.redis.zset(&Keys::new("recur").workers()).await,
        [("w".to_string(), millis(f.now()))],
        "marked alive by its clock"
    );
}
