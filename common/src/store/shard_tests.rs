//! A deployment spread over several shards (`RECUR_SHARDS`): each schedule lives in its shard, claims and
//! the reconciler cover every shard, listings merge the shards in one order.

use std::{collections::BTreeSet, sync::Arc};

use jiff::SignedDuration;
use serde_json::json;
use uuid::Uuid;

use super::{
    tests::{claimant, started_jobs, succeeded},
    *,
};
use crate::{
    clock::ManualClock,
    inspect::ScheduleFilter,
    keys::Keys,
    model::{QueueName, Workflow},
    testing::TestRedis,
};

const SHARDS: usize = 4;

struct Sharded {
    redis: TestRedis,
    clock: Arc<ManualClock>,
    store: Store,
    keys: Keys,
}

impl Sharded {
    async fn new() -> Self {
        let redis = TestRedis::start();
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let keys = Keys::sharded("recur", SHARDS);
        let store = Store::sharded(redis.connection().await, keys.clone(), clock.clone());
        store.check_layout().await.unwrap();
        Self { redis, clock, store, keys }
    }

    async fn workflow(&self) -> Workflow {
        let new =
            json!({"name": format!("noop-{}", Uuid::new_v4().simple()), "steps": [{"kind": "log", "message": "hi"}]});
        self.store.create_workflow(serde_json::from_value(new).unwrap()).await.unwrap()
    }

    /// `count` schedules every `60 + i` seconds, created in one bulk request.
    async fn schedules(&self, workflow: &Workflow, count: usize) -> Vec<Schedule> {
        let items = (0..count)
            .map(|i| serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 60 + i})).unwrap())
            .collect();
        self.store.create_schedules(items).await.unwrap()
    }
}

#[tokio::test]
async fn schedules_spread_over_the_shards_and_claims_finishes_and_listings_cover_them_all() {
    let f = Sharded::new().await;
    let workflow = f.workflow().await;
    let schedules = f.schedules(&workflow, 40).await;
    let mut per_shard = [0; SHARDS];
    for schedule in &schedules {
        let keys = f.keys.of(schedule.id);
        assert!(f.redis.exists(&keys.schedule(schedule.id)).await, "the record is in its shard");
        let waiting = f.redis.zset(&keys.delayed(&QueueName::default())).await;
        assert!(waiting.iter().any(|(job, _)| *job == schedule.planned_job().to_string()), "and so is its job");
        per_shard[f.keys.shard_of(schedule.id)] += 1;
    }
    assert!(per_shard.iter().all(|count| *count > 0), "every shard holds schedules: {per_shard:?}");
    assert!(!f.redis.exists("{recur}:schedules:active").await, "nothing of them in the home slot");

    // A worker claims from the shards in turn until every due job ran, one call at a time.
    f.clock.advance(SignedDuration::from_secs(200));
    let mut ran = BTreeSet::new();
    // As a worker does: each claim carries the ends of the jobs the last one started, which are of another
    // shard than the one it claims from.
    let mut ends: Vec<JobEnd> = Vec::new();
    loop {
        let (outcomes, claim) = f.store.finish_and_claim(&claimant(), 16, &ends).await.unwrap();
        assert_eq!(outcomes, vec![FinishOutcome::Recorded; ends.len()]);
        if let Claim::Empty { .. } = claim {
            break;
        }
        let started = started_jobs(&f.store, claim).await;
        ends = started.iter().map(|started| succeeded(started.clone(), f.clock.now())).collect();
        ran.extend(started.iter().map(|started| started.schedule.id));
    }
    assert_eq!(ran.len(), schedules.len(), "every shard's jobs were claimed");
    for schedule in &schedules {
        let after = f.store.inspect().schedule(schedule.id).await.unwrap();
        assert_eq!(after.run_count, 1);
        let next = after.planned_job();
        let waiting = f.redis.zset(&f.keys.of(schedule.id).delayed(&QueueName::default())).await;
        assert!(waiting.iter().any(|(job, _)| *job == next.to_string()), "its next job waits in its shard");
    }

    // Listings merge the shards newest first, and a cursor resumes after the same place in each.
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = f.store.inspect().schedules(&ScheduleFilter::default(), 7, cursor.as_deref()).await.unwrap();
        listed.extend(page.items.iter().map(|schedule| (schedule.created_at, schedule.id)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<_> = schedules.iter().map(|schedule| (schedule.created_at, schedule.id)).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, expected);
    let history = f.store.inspect().history(&Default::default(), 100, None).await.unwrap();
    assert_eq!(history.items.len(), schedules.len(), "the history of every shard");
    assert!(history.items.windows(2).all(|pair| pair[0].started_at >= pair[1].started_at), "newest first");

    let overview = f.store.inspect().overview().await.unwrap();
    assert_eq!(overview.schedules["active"], schedules.len() as u64);
    let queue = &overview.queues[0];
    assert_eq!((queue.name.as_str(), queue.delayed), (QueueName::default().as_str(), schedules.len() as u64));
}

#[tokio::test]
async fn each_claim_takes_the_next_shard_in_turn_so_none_is_starved() {
    let f = Sharded::new().await;
    let workflow = f.workflow().await;
    f.schedules(&workflow, 80).await;
    f.clock.advance(SignedDuration::from_secs(200));
    let mut shards = Vec::new();
    for _ in 0..SHARDS {
        let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 1).await.unwrap() else { panic!("nothing due") };
        shards.push(f.keys.shard_of(claimed[0].0.schedule()));
    }
    shards.sort();
    assert_eq!(shards, (0..SHARDS).collect::<Vec<_>>(), "four claims, one from each shard");
}

#[tokio::test]
async fn the_reconciler_takes_one_turn_per_shard_and_rebuilds_a_lost_job_in_its_shard() {
    let f = Sharded::new().await;
    let workflow = f.workflow().await;
    let schedules = f.schedules(&workflow, 12).await;
    let lost = &schedules[5];
    let keys = f.keys.of(lost.id);
    let mut conn = f.redis.connection().await;
    let _: () =
        redis::AsyncCommands::zrem(&mut conn, keys.delayed(&QueueName::default()), lost.planned_job().to_string())
            .await
            .unwrap();

    let every = std::time::Duration::from_secs(30);
    assert_eq!(f.store.take_reconciler_turns(every).await.unwrap(), (0..SHARDS).collect::<Vec<_>>());
    assert!(f.store.take_reconciler_turns(every).await.unwrap().is_empty(), "each shard's turn is taken once");
    let report = f.store.reconcile_shards(&[f.keys.shard_of(lost.id)]).await.unwrap();
    assert_eq!(report.recovered, 1);
    let waiting = f.redis.zset(&keys.delayed(&QueueName::default())).await;
    assert!(waiting.iter().any(|(job, _)| *job == lost.planned_job().to_string()), "{waiting:?}");
}

#[tokio::test]
async fn a_workflow_is_copied_to_every_shard_and_deleted_only_once_no_shard_uses_it() {
    let f = Sharded::new().await;
    let workflow = f.workflow().await;
    for keys in f.keys.shards() {
        assert!(f.redis.exists(&keys.workflow(workflow.id)).await, "each shard has its copy");
        assert!(f.redis.hash(&keys.workflow_requirements()).await.contains_key(&workflow.id.to_string()));
    }
    let used = &f.schedules(&workflow, 1).await[0];
    assert!(matches!(f.store.delete_workflow(workflow.id).await, Err(Error::Conflict(_))));
    for keys in f.keys.shards() {
        assert!(f.redis.exists(&keys.workflow(workflow.id)).await, "a refused delete leaves every copy");
    }
    // A copy lost (a process died between the save and its copies) is written again by the reconciler.
    let lagging = f.keys.shard(2);
    f.redis.delete(&[lagging.workflow(workflow.id)]).await;
    let mut conn = f.redis.connection().await;
    let _: () =
        redis::AsyncCommands::hdel(&mut conn, lagging.workflow_requirements(), workflow.id.to_string()).await.unwrap();
    f.store.reconcile().await.unwrap();
    assert!(f.redis.exists(&lagging.workflow(workflow.id)).await, "the reconciler wrote the copy again");

    f.store.delete_schedule(used.id).await.unwrap();
    f.store.delete_workflow(workflow.id).await.unwrap();
    for keys in f.keys.shards() {
        assert!(!f.redis.exists(&keys.workflow(workflow.id)).await);
    }
    let refused = f.store.create_schedules(vec![
        serde_json::from_value(json!({"workflow_id": workflow.id, "interval_seconds": 60})).unwrap(),
    ]);
    assert!(matches!(refused.await, Err(Error::InvalidItems { .. })));
}

#[tokio::test]
async fn a_limited_workflows_schedules_and_runs_live_in_its_shard_so_its_limit_holds_over_all_shards() {
    let f = Sharded::new().await;
    let limited = json!({"name": "limited", "max_concurrency": 1, "steps": [{"kind": "log", "message": "hi"}]});
    let limited: Workflow = f.store.create_workflow(serde_json::from_value(limited).unwrap()).await.unwrap();
    let home = f.keys.shard_of(limited.id);
    let schedules = f.schedules(&limited, 12).await;
    assert!(schedules.iter().all(|schedule| f.keys.shard_of(schedule.id) == home), "every schedule in its shard");
    let runs = vec![serde_json::from_value(json!({})).unwrap(); 4];
    let queued = f.store.run_workflow_many(limited.id, runs).await.unwrap();
    assert!(queued.iter().all(|run| f.keys.shard_of(run.job.schedule()) == home), "and every run");

    f.clock.advance(SignedDuration::from_secs(200));
    let mut started = 0;
    for _ in 0..2 * SHARDS {
        if let Claim::Claimed(claimed) = f.store.claim_jobs(&claimant(), 16).await.unwrap() {
            started += claimed.iter().filter(|(_, start)| matches!(start, Start::Started(_))).count();
        }
    }
    assert_eq!(started, 1, "max_concurrency 1 over the whole deployment");

    // A schedule of another shard does not move onto the limited workflow, and a workflow used in several
    // shards does not take a limit.
    let free = f.workflow().await;
    let others = f.schedules(&free, 12).await;
    let elsewhere = others.iter().find(|schedule| f.keys.shard_of(schedule.id) != home).expect("another shard");
    let patch = serde_json::from_value(json!({"workflow_id": limited.id})).unwrap();
    assert!(matches!(f.store.update_schedule(elsewhere.id, patch).await, Err(Error::Conflict(_))));
    let limit = json!({"name": free.name, "max_concurrency": 2, "steps": [{"kind": "log", "message": "hi"}]});
    let refused = f.store.update_workflow(free.id, serde_json::from_value(limit).unwrap()).await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
}

#[tokio::test]
async fn the_shard_count_is_fixed_at_creation() {
    let f = Sharded::new().await;
    let other = Store::sharded(f.redis.connection().await, Keys::sharded("recur", 2), f.clock.clone());
    let mismatch = other.check_layout().await.unwrap_err();
    assert!(mismatch.to_string().contains("RECUR_SHARDS=4"), "{mismatch}");
    // A deployment that predates the recorded count has one shard.
    let legacy = Store::new(f.redis.connection().await, "legacy", f.clock.clone());
    let legacy_workflow = json!({"name": "old", "steps": [{"kind": "log", "message": "hi"}]});
    legacy.create_workflow(serde_json::from_value(legacy_workflow).unwrap()).await.unwrap();
    f.redis.delete(&[Keys::new("legacy").layout()]).await;
    let sharded = Store::sharded(f.redis.connection().await, Keys::sharded("legacy", 4), f.clock.clone());
    assert!(matches!(sharded.check_layout().await, Err(Error::ShardCountMismatch { stored: 1, .. })));
}
