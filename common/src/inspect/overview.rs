//! The state of a deployment at a glance, for `recur-worker inspect`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use redis::AsyncCommands;
use serde::Serialize;

use super::Inspect;
use crate::{
    Result,
    model::{JobId, ScheduleStatus, from_millis, serde_instant},
};

/// A queue as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueOverview {
    pub name: String,
    pub ready: u64,
    pub running: u64,
    pub delayed: u64,
    pub expired_leases: u64,
    /// Jobs (among the ready and delayed ones) waiting for a live worker that offers a handler their
    /// workflow calls.
    pub waiting_for_handler: u64,
    #[schema(required = true)]
    pub next_job: Option<String>,
    #[serde(with = "serde_instant::option")]
    #[schema(required = true)]
    pub next_due_at: Option<Timestamp>,
}

/// A job waiting for a live worker that offers a handler its workflow calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HandlerWait {
    pub job_id: String,
    pub queue: String,
    pub handler: String,
    /// When a worker first found it could not run it.
    #[serde(with = "serde_instant")]
    pub since: Timestamp,
}

impl HandlerWait {
    /// The wait named by a `{recur}:handler-waits` member, `<queue>/<job id>`, scored `since_ms`.
    pub(crate) fn of_member(member: &str, handler: String, since_ms: i64) -> Option<Self> {
        let (queue, job_id) = member.split_once('/')?;
        Some(Self { job_id: job_id.to_string(), queue: queue.to_string(), handler, since: from_millis(since_ms) })
    }
}

/// Handler waits an overview lists at most, oldest first; its counts cover up to [`COUNTED_WAITS`].
const LISTED_WAITS: usize = 100;
const COUNTED_WAITS: isize = 10_000;

/// A worker that sent a heartbeat recently.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkerOverview {
    pub id: String,
    #[serde(with = "serde_instant")]
    pub last_heartbeat_at: Timestamp,
    /// What the worker says of itself: queues, handlers, concurrency, pid, start time, version; numbers as
    /// numbers.
    pub description: BTreeMap<String, serde_json::Value>,
}

/// The state of a deployment for `recur-worker inspect`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    #[serde(with = "serde_instant")]
    pub now: Timestamp,
    pub queues: Vec<QueueOverview>,
    pub workers: Vec<WorkerOverview>,
    pub schedules: BTreeMap<&'static str, u64>,
    /// The oldest jobs waiting for a handler (at most 100).
    pub waiting_for_handler: Vec<HandlerWait>,
    /// Records a worker could not decode, by key, with why: each is left out of listings and passes until
    /// repaired.
    pub corrupt_records: BTreeMap<String, String>,
}

impl Inspect {
    /// Queues, workers and schedule counts, read in one round trip per group (and per shard).
    pub async fn overview(&self) -> Result<Overview> {
        let now = self.clock.now();
        let now_ms = now.as_millisecond();
        let mut conn = self.conn.clone();
        let waits = self.oldest_waits(COUNTED_WAITS).await?;
        let waiting_in =
            |queue: &str| waits.iter().filter(|(member, _)| member.split('/').next() == Some(queue)).count();
        let mut queues = Vec::new();
        for queue in self.queue_names().await? {
            let mut overview = QueueOverview {
                name: queue.to_string(),
                ready: 0,
                running: 0,
                delayed: 0,
                expired_leases: 0,
                waiting_for_handler: waiting_in(queue.as_str()) as u64,
                next_job: None,
                next_due_at: None,
            };
            let mut next: Option<(String, i64)> = None;
            for keys in self.keys.shards() {
                let (ready, running, delayed, expired_leases, first): (u64, u64, u64, u64, Vec<(String, i64)>) =
                    redis::pipe()
                        .llen(keys.ready(&queue))
                        .hlen(keys.running(&queue))
                        .zcard(keys.delayed(&queue))
                        .zcount(keys.leases(&queue), "-inf", format!("({now_ms}"))
                        .zrange_withscores(keys.delayed(&queue), 0, 0)
                        .query_async(&mut conn)
                        .await?;
                overview.ready += ready;
                overview.running += running;
                overview.delayed += delayed;
                overview.expired_leases += expired_leases;
                next = next.into_iter().chain(first).min_by_key(|(_, due)| *due);
            }
            overview.next_due_at = next.as_ref().map(|(_, due)| from_millis(*due));
            overview.next_job = next.map(|(job, _)| job);
            queues.push(overview);
        }
        let heartbeats: Vec<(String, i64)> = conn.zrange_withscores(self.keys.workers(), 0, -1).await?;
        let mut workers = Vec::new();
        for (id, last) in heartbeats {
            let stored: BTreeMap<String, String> = conn.hgetall(self.keys.worker(&id)).await?;
            let description = stored
                .into_iter()
                .map(|(name, text)| {
                    let value = text.parse::<i64>().map_or(serde_json::Value::String(text), serde_json::Value::from);
                    (name, value)
                })
                .collect();
            workers.push(WorkerOverview { id, last_heartbeat_at: from_millis(last), description });
        }
        let mut counts = vec![0u64; ScheduleStatus::ALL.len()];
        for keys in self.keys.shards() {
            let mut pipe = redis::pipe();
            for &status in ScheduleStatus::ALL {
                pipe.zcard(keys.schedules_by_status(status));
            }
            let in_shard: Vec<u64> = pipe.query_async(&mut conn).await?;
            counts.iter_mut().zip(in_shard).for_each(|(count, in_shard)| *count += in_shard);
        }
        let schedules = ScheduleStatus::ALL.iter().map(|status| status.as_str()).zip(counts).collect();
        let corrupt_records = self.corrupt_records().await?;
        let waiting_for_handler = self.describe_waits(waits.into_iter().take(LISTED_WAITS).collect()).await?;
        Ok(Overview { now, queues, workers, schedules, waiting_for_handler, corrupt_records })
    }

    /// The `limit` oldest jobs waiting for a handler. An entry whose job no longer waits (it started, or
    /// is gone) is left out; the reconciler drops it.
    pub async fn handler_waits(&self, limit: usize) -> Result<Vec<HandlerWait>> {
        let entries = self.oldest_waits(isize::try_from(limit).unwrap_or(isize::MAX)).await?;
        self.describe_waits(entries).await
    }

    /// The `count` oldest entries of the shards' wait indexes (members and scores), oldest first.
    async fn oldest_waits(&self, count: isize) -> Result<Vec<(String, i64)>> {
        let mut conn = self.conn.clone();
        let mut entries = Vec::new();
        for keys in self.keys.shards() {
            let in_shard: Vec<(String, i64)> = conn.zrange_withscores(keys.handler_waits(), 0, count - 1).await?;
            entries.extend(in_shard);
        }
        entries.sort_by_key(|(_, since)| *since);
        entries.truncate(usize::try_from(count).unwrap_or(0));
        Ok(entries)
    }

    /// The waits of `entries` (members and scores of the wait index) whose job still waits, with the handler
    /// each waits for, in one round trip per shard.
    async fn describe_waits(&self, entries: Vec<(String, i64)>) -> Result<Vec<HandlerWait>> {
        let mut reads = Vec::with_capacity(entries.len());
        let mut named = Vec::with_capacity(entries.len());
        for (member, since) in entries {
            let Some(job) = member.split_once('/').and_then(|(_, job)| job.parse::<JobId>().ok()) else { continue };
            let key = self.keys.of_job(&job).job(&job);
            let mut read = redis::cmd("HGET");
            read.arg(&key).arg("waiting_for_handler");
            reads.push((key, read));
            named.push((member, since));
        }
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let handlers: Vec<Option<String>> = self.pipelined(reads).await?;
        Ok(named
            .into_iter()
            .zip(handlers)
            .filter_map(|((member, since), handler)| HandlerWait::of_member(&member, handler?, since))
            .collect())
    }
}
