//! Every state change of recur, as one typed call of one Lua script (see [`crate::scripts`]), grouped by
//! what it changes:
//! - `workflows`: create, update, delete;
//! - `create`: new schedules and ad-hoc runs, one or many a request;
//! - `schedules`: patch, pause, resume, restart, delete, trigger, backfill;
//! - `jobs`: claim, start, renew a lease, cancel, hand back;
//! - `finish`: the end of a job, several per call;
//! - `reconciler`: the periodic pass that promotes, requeues, recovers and trims;
//! - `workers`: heartbeats.
//!
//! How a schedule and a running execution are stored is [`crate::record`]'s.
//!
//! Changes to a schedule are planned in Rust (where the timing rules live, as pure functions) from a
//! snapshot that carries the schedule's `rev`, and applied by a script that refuses a stale revision.
//! The functions here re-read and re-plan on a stale answer, so callers see one atomic transition.

use std::{
    sync::{Arc, atomic::AtomicUsize},
    time::Duration,
};

use crate::connection::RedisConnection;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::{
    Error, Result,
    clock::Clock,
    inspect::{Inspect, RedisHealth},
    keys::{Keys, ShardKeys},
    model::{JobId, Schedule, millis},
    scripts::{self, ScriptCall, calls::CheckLayout},
};

mod create;
mod finish;
mod jobs;
mod reconciler;
mod schedules;
mod workers;
mod workflows;

#[cfg(test)]
mod calendar_tests;
#[cfg(test)]
mod shard_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod workflow_tests;

pub use create::{MAX_BULK_ITEMS, QueuedRun};
pub use finish::{FinishOutcome, JobEnd};
pub use jobs::{Cancelled, Claim, Claimant, Renewal, Start, StartedJob};
pub use reconciler::{CLAIM_REPLY_LOST, ReconcileReport, WALK_BUDGET};
pub use schedules::{Backfill, Triggered};

/// How often a transition is re-planned after a stale revision before giving up; each retry means a
/// concurrent writer made progress, so this is only reached under pathological contention.
const MAX_PLAN_ATTEMPTS: usize = 16;
/// Jobs promoted, requeued or recovered, and executions trimmed, per script call, so that no call does
/// unbounded work.
pub const BATCH: usize = 100;
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
    conn: RedisConnection,
    keys: Keys,
    clock: Arc<dyn Clock>,
    retention: Retention,
    /// The shard the next claim tries first; each store starts at a random one.
    next_shard: Arc<AtomicUsize>,
}

/// What a worker subscribed with [`Store::subscribe_signals`] is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A job became the earliest due one: claim now rather than at the planned wake-up.
    Wakeup,
    /// Stop the running execution `execution`.
    Cancel { execution: String, count_as_failure: bool },
}

/// The two cancel modes as stored in the job record and sent on the cancel channel.
const CANCEL_AS_CANCELLED: &str = "cancel";
const CANCEL_AS_FAILURE: &str = "fail";

impl Store {
    /// A store on `conn` for the one-shard deployment `prefix`, reading time from `clock`.
    pub fn new(conn: RedisConnection, prefix: &str, clock: Arc<dyn Clock>) -> Self {
        Self::sharded(conn, Keys::new(prefix), clock)
    }

    /// A store on `conn` for the deployment `keys` names (its prefix and shard count).
    pub fn sharded(conn: RedisConnection, keys: Keys, clock: Arc<dyn Clock>) -> Self {
        let first_shard = (Uuid::new_v4().as_u128() % keys.shard_count() as u128) as usize;
        Self { conn, keys, clock, retention: Retention::default(), next_shard: Arc::new(AtomicUsize::new(first_shard)) }
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

    /// Whether this process can serve: Redis answers and takes writes, and holds every script (loading the
    /// ones it lacks).
    pub async fn readiness(&self) -> Result<RedisHealth> {
        let health = self.inspect().redis_health().await?;
        if health == RedisHealth::Ok {
            scripts::load_missing(&mut self.conn.clone()).await?;
        }
        Ok(health)
    }

    /// Checks that the deployment has the shard count this store was made with, recording it when the
    /// deployment is new. Both binaries call it at start, before anything else touches the deployment.
    pub async fn check_layout(&self) -> Result<()> {
        let configured = self.keys.shard_count();
        let stored = self
            .run(CheckLayout { layout: self.keys.layout(), workflows: self.keys.workflows(), shards: configured })
            .await?;
        if stored != configured as u64 {
            return Err(Error::ShardCountMismatch { prefix: self.keys.prefix().to_string(), stored, configured });
        }
        Ok(())
    }

    /// Runs one script call on the shared connection.
    async fn run<S: ScriptCall>(&self, call: S) -> Result<S::Reply> {
        let mut conn = self.conn.clone();
        scripts::run(&mut conn, &call).await
    }

    /// The positions of `ids` (schedules or runs) grouped by shard and cut into script calls of at most
    /// [`BATCH`], each with its shard's keys; in shard order, positions ascending within a call.
    fn calls_by_shard(&self, ids: impl Iterator<Item = Uuid>) -> Vec<(ShardKeys, Vec<usize>)> {
        let mut by_shard: Vec<Vec<usize>> = vec![Vec::new(); self.keys.shard_count()];
        for (index, id) in ids.enumerate() {
            by_shard[self.keys.shard_of(id)].push(index);
        }
        by_shard
            .into_iter()
            .enumerate()
            .flat_map(|(shard, positions)| {
                let keys = self.keys.shard(shard);
                positions.chunks(BATCH).map(move |chunk| (keys.clone(), chunk.to_vec())).collect::<Vec<_>>()
            })
            .collect()
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
}

/// Whether a job counts as a run under way for its schedule's overlap policy: regular and manual runs do,
/// backfill runs (which run on their own, one at a time) do not.
fn counts_as_run(job: &JobId) -> bool {
    !matches!(job, JobId::Backfill { .. })
}

/// The regular job a schedule's record points at and its due time.
fn planned_job(schedule: &Schedule) -> (JobId, Timestamp) {
    (schedule.planned_job(), schedule.next_run_at.unwrap_or(schedule.updated_at))
}

/// Whether `schedule`'s record names `job` as its live job, due at `due`: then the job waits without a record
/// of its own (see `lib/enqueue.lua`).
fn is_recorded(schedule: &Schedule, job: &JobId, due: Timestamp) -> bool {
    schedule.live_job == Some(*job) && schedule.next_run_at == Some(due)
}

/// A duration in milliseconds, as scripts take it, saturating rather than wrapping.
fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

fn lease_until(now: Timestamp, lease: Duration) -> i64 {
    millis(now).saturating_add(duration_ms(lease))
}

fn contended(id: Uuid) -> Error {
    Error::Conflict(format!("schedule {id} changed too often during the request; try again"))
}
