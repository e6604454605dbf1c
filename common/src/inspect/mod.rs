//! Read-only queries: what the API serves and what `recur-worker inspect` prints. Nothing here writes.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use jiff::Timestamp;
use redis::AsyncCommands;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Error, Result,
    clock::Clock,
    connection::{RedisConnection, info_field},
    keys::{Keys, ShardKeys},
    model::{
        BareRun, Execution, ExecutionId, ExecutionState, JobId, QueueName, Schedule, ScheduleStatus, Workflow,
        from_millis,
    },
    record::{decode_execution, decode_live_execution, decode_run, decode_schedule, is_run},
};

mod overview;

pub use overview::{HandlerWait, Overview, QueueOverview, WorkerOverview};

/// Index members one listing request reads at most. A filter that matches few of them answers a short page
/// with a cursor instead of walking the whole index in one request.
const SCAN_BUDGET: usize = 5_000;

/// Bytes of items (as JSON) past which a listing answers a shorter page with a cursor: a page of big
/// executions stays a few MiB, not `limit` times the largest.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Items a listing reads first, before it knows how big they are.
const FIRST_CHUNK: usize = 16;

/// Index members one read of a listing takes at most, however few of them its filter keeps.
const MAX_CHUNK_ENTRIES: usize = 1_000;

/// Attempts of an ad-hoc run read at once: almost every run has one.
const RUN_ATTEMPTS_PAGE: u32 = 16;

/// An item of a listing: the index member it is listed under, so that a page can end at it.
pub(crate) trait Listed {
    fn member(&self) -> String;
}

impl Listed for Uuid {
    fn member(&self) -> String {
        self.to_string()
    }
}

impl Listed for Workflow {
    fn member(&self) -> String {
        self.id.to_string()
    }
}

impl Listed for Schedule {
    fn member(&self) -> String {
        self.id.to_string()
    }
}

impl Listed for Execution {
    fn member(&self) -> String {
        self.id.to_string()
    }
}

/// One page of a listing, newest first, and the cursor of the next page. A page may hold fewer than the
/// limit and still have a next one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What keeps runs of a workflow on a queue waiting (see [`Inspect::run_waits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunWait {
    pub workflow_id: Uuid,
    /// `None`: on any queue.
    pub queue: Option<QueueName>,
    /// No live worker consumes the queue.
    pub unserved_queue: bool,
    /// Handlers the workflow calls that no live worker (of the queue) offers.
    pub unoffered_handlers: Vec<String>,
}

/// Filters of the schedule listing.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    pub status: Option<ScheduleStatus>,
    pub workflow_id: Option<Uuid>,
    /// Schedules whose name contains this, ignoring case.
    pub name: Option<String>,
    pub queue: Option<QueueName>,
}

impl ScheduleFilter {
    /// Whether a schedule whose record holds `workflow_id`, `name` and `queue` (no field: the default queue)
    /// may pass: checked on those three fields before the whole record is read, as a selective filter
    /// passes over most records.
    fn may_admit(&self, [workflow_id, name, queue]: &[Option<String>; 3]) -> bool {
        let default = QueueName::default();
        self.admits_fields(workflow_id.as_deref(), name.as_deref(), queue.as_deref().unwrap_or(default.as_str()))
    }

    /// Whether `schedule` passes the filters the index walked did not apply.
    fn admits(&self, schedule: &Schedule) -> bool {
        self.status.is_none_or(|status| schedule.status == status)
            && self.admits_fields(
                Some(&schedule.workflow_id.to_string()),
                Some(&schedule.name),
                schedule.queue.as_str(),
            )
    }

    /// The workflow, name and queue filters, the one place they are decided.
    fn admits_fields(&self, workflow_id: Option<&str>, name: Option<&str>, queue: &str) -> bool {
        let wanted = self.name.as_deref().map(str::to_lowercase);
        self.workflow_id.is_none_or(|id| workflow_id == Some(id.to_string().as_str()))
            && wanted.is_none_or(|wanted| name.is_some_and(|name| name.to_lowercase().contains(&wanted)))
            && self.queue.as_ref().is_none_or(|wanted| queue == wanted.as_str())
    }
}

/// Filters of the execution history (`GET /executions`).
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub workflow_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    pub state: Option<ExecutionState>,
    pub since: Option<Timestamp>,
}

/// Read-only access to a deployment's records.
#[derive(Clone)]
pub struct Inspect {
    conn: RedisConnection,
    keys: Keys,
    clock: Arc<dyn Clock>,
}

impl Inspect {
    pub(crate) fn new(conn: RedisConnection, keys: Keys, clock: Arc<dyn Clock>) -> Self {
        Self { conn, keys, clock }
    }

    /// Whether Redis answers, and whether it takes writes: on a cluster, every node holding a shard.
    pub async fn redis_health(&self) -> Result<RedisHealth> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = self.keys.shards().iter().map(ShardKeys::queues).collect();
        let answers = conn.info_of(&keys, "memory").await?;
        Ok(answers
            .iter()
            .map(|info| RedisHealth::from_info(info))
            .find(|health| *health != RedisHealth::Ok)
            .unwrap_or(RedisHealth::Ok))
    }

    /// [`pipelined`] on the shared connection.
    async fn pipelined<T: redis::FromRedisValue>(&self, commands: Vec<(String, redis::Cmd)>) -> Result<Vec<T>> {
        pipelined(&mut self.conn.clone(), commands).await
    }

    /// One workflow.
    pub async fn workflow(&self, id: Uuid) -> Result<Workflow> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.get(self.keys.workflow(id)).await?;
        let json = json.ok_or_else(|| Error::not_found("workflow", id))?;
        serde_json::from_str(&json).map_err(|error| Error::corrupt(self.keys.workflow(id), error.to_string()))
    }

    /// Workflows, newest first.
    pub async fn workflows(&self, limit: usize, cursor: Option<&str>) -> Result<Page<Workflow>> {
        self.walk(&[self.keys.workflows()], limit, cursor, |ids: Vec<String>| {
            let (mut conn, keys) = (self.conn.clone(), self.keys.clone());
            async move {
                let keys: Vec<String> =
                    ids.iter().filter_map(|id| id.parse().ok()).map(|id| keys.workflow(id)).collect();
                let found: Vec<Option<String>> = if keys.is_empty() { Vec::new() } else { conn.mget(&keys).await? };
                let decoded = found.iter().zip(&keys).filter_map(|(json, key)| {
                    let decoded = serde_json::from_str(json.as_deref()?).map_err(|e| (key.clone(), e.to_string()));
                    Some(decoded)
                });
                Ok(skip_corrupt(decoded.collect()))
            }
        })
        .await
    }

    /// Workflow ids, newest first, a page at a time.
    pub async fn workflow_ids(&self, limit: usize, cursor: Option<&str>) -> Result<Page<Uuid>> {
        self.walk(&[self.keys.workflows()], limit, cursor, |ids: Vec<String>| async move {
            Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
        })
        .await
    }

    /// One schedule.
    pub async fn schedule(&self, id: Uuid) -> Result<Schedule> {
        let mut conn = self.conn.clone();
        let key = self.keys.of(id).schedule(id);
        let fields: HashMap<String, String> = conn.hgetall(&key).await?;
        if fields.is_empty() {
            return Err(Error::not_found("schedule", id));
        }
        decode_schedule(id, &fields).map_err(|detail| Error::corrupt(key, detail))
    }

    /// The schedules `ids` that exist, in order, and the records among them that do not decode (key and
    /// why), left out.
    async fn schedules_by_id(&self, ids: &[String]) -> Result<Decoded<Schedule>> {
        let keys: Vec<(Uuid, String)> =
            ids.iter().filter_map(|id| id.parse().ok()).map(|id| (id, self.keys.of(id).schedule(id))).collect();
        let commands = keys.iter().map(|(_, key)| (key.clone(), redis::Cmd::hgetall(key))).collect();
        let found: Vec<HashMap<String, String>> = self.pipelined(commands).await?;
        // A schedule deleted between reading the index and reading the record is skipped.
        Ok(found
            .iter()
            .zip(&keys)
            .filter(|(fields, _)| !fields.is_empty())
            .map(|(fields, (id, key))| decode_schedule(*id, fields).map_err(|detail| (key.clone(), detail)))
            .collect())
    }

    /// Schedules, newest first, optionally of one status and one workflow.
    pub async fn schedules(
        &self,
        filter: &ScheduleFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Schedule>> {
        // Every schedule is in one status index: all of them, newest first, is those indexes merged. The other
        // filters (workflow, name, queue) are applied to the records read, within the walk's scan budget.
        let statuses = filter.status.map_or(ScheduleStatus::ALL.to_vec(), |status| vec![status]);
        let indexes: Vec<String> = self
            .keys
            .shards()
            .iter()
            .flat_map(|keys| statuses.iter().map(|status| keys.schedules_by_status(*status)))
            .collect();
        let prefilter = filter.workflow_id.is_some() || filter.name.is_some() || filter.queue.is_some();
        self.walk(&indexes, limit, cursor, |ids: Vec<String>| {
            let inspect = self.clone();
            async move {
                let ids = if prefilter { inspect.may_admit(&ids, filter).await? } else { ids };
                let schedules = skip_corrupt(inspect.schedules_by_id(&ids).await?);
                Ok(schedules.into_iter().filter(|schedule| filter.admits(schedule)).collect())
            }
        })
        .await
    }

    /// The schedules `ids` whose workflow, name and queue may pass `filter`, in order: three fields of each
    /// record read instead of all of it.
    async fn may_admit(&self, ids: &[String], filter: &ScheduleFilter) -> Result<Vec<String>> {
        let commands = ids
            .iter()
            .filter_map(|id| id.parse::<Uuid>().ok())
            .map(|id| {
                let key = self.keys.of(id).schedule(id);
                let mut read = redis::cmd("HMGET");
                read.arg(&key).arg(&["workflow_id", "name", "queue"]);
                (key, read)
            })
            .collect();
        let fields: Vec<[Option<String>; 3]> = self.pipelined(commands).await?;
        let parsed = ids.iter().filter(|id| id.parse::<Uuid>().is_ok());
        Ok(parsed.zip(fields).filter(|(_, fields)| filter.may_admit(fields)).map(|(id, _)| id.clone()).collect())
    }

    /// A page of a shard's active schedules in creation order, for the reconciler: each one read, or the key
    /// and why it does not decode.
    pub(crate) async fn active_schedules(
        &self,
        keys: &ShardKeys,
        offset: usize,
        count: usize,
    ) -> Result<Decoded<Schedule>> {
        let mut conn = self.conn.clone();
        let stop = isize::try_from(offset + count).unwrap_or(isize::MAX) - 1;
        let ids: Vec<String> = conn
            .zrange(
                keys.schedules_by_status(ScheduleStatus::Active),
                isize::try_from(offset).unwrap_or(isize::MAX),
                stop,
            )
            .await?;
        self.schedules_by_id(&ids).await
    }

    /// The rank in a shard's active index where the reconciler's walk resumes.
    pub async fn reconcile_cursor(&self, keys: &ShardKeys) -> Result<usize> {
        let mut conn = self.conn.clone();
        let rank: Option<usize> = conn.get(keys.reconcile_cursor()).await?;
        Ok(rank.unwrap_or(0))
    }

    /// One execution.
    pub async fn execution(&self, id: &str) -> Result<Execution> {
        let parsed: ExecutionId = id.parse().map_err(|_| Error::not_found("execution", id))?;
        let found = self.executions_by_id(&[parsed]).await?;
        found.into_iter().next().ok_or_else(|| Error::not_found("execution", id))
    }

    /// The executions `ids` that exist, in order: ended ones from their records, running and queued ones from
    /// their job (a second round trip, only when some have no record yet).
    async fn executions_by_id(&self, ids: &[ExecutionId]) -> Result<Vec<Execution>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // An id does not say whether it is a schedule's or an ad-hoc run's: both places are read.
        let commands = ids
            .iter()
            .flat_map(|id| {
                let keys = self.keys.of_job(&id.job);
                [keys.executions(id.job.schedule()), keys.run_executions()].map(|key| {
                    let mut command = redis::cmd("HGET");
                    command.arg(&key).arg(id.to_string());
                    (key, command)
                })
            })
            .collect();
        let mut found = self.pipelined::<Option<String>>(commands).await?.into_iter();
        let records: Vec<Option<String>> = ids
            .iter()
            .map(|_| {
                let (of_schedule, of_run) = (found.next().flatten(), found.next().flatten());
                of_schedule.or(of_run)
            })
            .collect();
        let unrecorded: Vec<&ExecutionId> =
            ids.iter().zip(&records).filter(|(_, record)| record.is_none()).map(|(id, _)| id).collect();
        let (mut job_reads, mut schedule_reads) = (Vec::new(), Vec::new());
        for id in &unrecorded {
            let keys = self.keys.of_job(&id.job);
            let (job, schedule) = (keys.job(&id.job), keys.schedule(id.job.schedule()));
            job_reads.push((job.clone(), redis::Cmd::hgetall(&job)));
            schedule_reads.push((schedule.clone(), redis::Cmd::hgetall(&schedule)));
        }
        let mut jobs: Vec<HashMap<String, String>> = Vec::new();
        let mut schedules: Vec<HashMap<String, String>> = Vec::new();
        if !unrecorded.is_empty() {
            jobs = self.pipelined(job_reads).await?;
            let unrecorded_jobs: Vec<&JobId> = unrecorded.iter().map(|id| &id.job).collect();
            jobs = self.with_bare_runs(&unrecorded_jobs, jobs).await?;
            schedules = self.pipelined(schedule_reads).await?;
        }
        let mut running = unrecorded.into_iter().zip(jobs.iter().zip(&schedules)).map(|(id, (job, schedule))| {
            // An ad-hoc run has no schedule record, and one that does not decode says nothing.
            let schedule = decode_schedule(id.job.schedule(), schedule).ok();
            decode_live_execution(id, job, schedule.as_ref())
        });
        let mut executions = Vec::with_capacity(ids.len());
        for record in records {
            // An id whose record was trimmed (or whose schedule was deleted) and that does not run is skipped.
            let execution = match record {
                Some(json) => Some(decode_execution(&json)?),
                None => running.next().flatten(),
            };
            executions.extend(execution);
        }
        Ok(executions)
    }

    /// A schedule's executions, newest first.
    pub async fn executions(&self, schedule_id: Uuid, limit: usize, cursor: Option<&str>) -> Result<Page<Execution>> {
        let filter = ExecutionFilter { schedule_id: Some(schedule_id), ..ExecutionFilter::default() };
        self.history(&filter, limit, cursor).await
    }

    /// Executions across schedules, newest first: of one schedule or one workflow, in one state, started at
    /// or after `since` (`GET /executions`).
    pub async fn history(
        &self,
        filter: &ExecutionFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Execution>> {
        let indexes: Vec<String> = match (filter.schedule_id, filter.workflow_id) {
            (Some(schedule_id), _) => vec![self.keys.of(schedule_id).execution_times(schedule_id)],
            (None, Some(workflow_id)) => {
                self.keys.shards().iter().map(|keys| keys.workflow_executions(workflow_id)).collect()
            }
            (None, None) => self.keys.shards().iter().map(ShardKeys::execution_index).collect(),
        };
        if let (Some(id), None) = (filter.schedule_id, cursor) {
            let mut conn = self.conn.clone();
            let indexed: bool = conn.exists(&indexes[0]).await?;
            if !indexed {
                return self.run_history(id, filter, limit).await;
            }
        }
        let filter = filter.clone();
        self.walk_since(&indexes, filter.since, limit, cursor, |ids: Vec<String>| {
            let inspect = self.clone();
            async move {
                let ids: Vec<ExecutionId> = ids.iter().filter_map(|id| id.parse().ok()).collect();
                let executions = inspect.executions_by_id(&ids).await?;
                Ok(executions
                    .into_iter()
                    .filter(|execution| filter.workflow_id.is_none_or(|id| execution.workflow_id == id))
                    .filter(|execution| filter.state.is_none_or(|state| execution.state == state))
                    .collect())
            }
        })
        .await
    }

    /// The executions of ad-hoc run `id`, newest first, in one page: a run keeps no schedule index (see
    /// `enqueue_runs.lua`), only its records, and has a few attempts at most.
    async fn run_history(&self, id: Uuid, filter: &ExecutionFilter, limit: usize) -> Result<Page<Execution>> {
        let mut conn = self.conn.clone();
        let keys = self.keys.of(id);
        let job = JobId::regular(id, 0, 0);
        // A run that ended before runs shared their shard's history kept a hash of its own until it expired.
        let mut ended: Vec<String> = conn.hvals(keys.executions(id)).await?;
        // A run's one job numbers its attempts from 1, and each that ended has its record: read them a page
        // at a time until a page ends with one missing.
        for first in (1u32..).step_by(RUN_ATTEMPTS_PAGE as usize) {
            let page: Vec<String> =
                (first..first + RUN_ATTEMPTS_PAGE).map(|attempt| ExecutionId { job, attempt }.to_string()).collect();
            let found: Vec<Option<String>> =
                redis::cmd("HMGET").arg(keys.run_executions()).arg(&page).query_async(&mut conn).await?;
            let complete = found.last().is_some_and(Option::is_some);
            ended.extend(found.into_iter().flatten());
            if !complete {
                break;
            }
        }
        let mut executions = ended.iter().map(|json| decode_execution(json)).collect::<Result<Vec<Execution>, _>>()?;
        let running: Option<String> = conn.hget(keys.job(&job), "execution_id").await?;
        let running = running.and_then(|id| id.parse::<ExecutionId>().ok());
        if let Some(running) = running.filter(|running| executions.iter().all(|ended| ended.id != *running)) {
            executions.extend(self.executions_by_id(&[running]).await?);
        }
        executions.retain(|execution| {
            filter.workflow_id.is_none_or(|id| execution.workflow_id == id)
                && filter.state.is_none_or(|state| execution.state == state)
                && filter.since.is_none_or(|since| execution.started_at.is_some_and(|started| started >= since))
        });
        executions.sort_by_key(|execution| std::cmp::Reverse(execution.attempt));
        executions.truncate(limit);
        Ok(Page { items: executions, next_cursor: None })
    }

    /// Walks the sorted sets `indexes` (one per shard, or one) merged from the highest score down, after the
    /// member `cursor`, loading and filtering members with `load` (which keeps their order) until `limit`
    /// items are found or the indexes end.
    async fn walk<T, Load>(
        &self,
        indexes: &[String],
        limit: usize,
        cursor: Option<&str>,
        load: impl Fn(Vec<String>) -> Load,
    ) -> Result<Page<T>>
    where
        T: Serialize + Listed,
        Load: Future<Output = Result<Vec<T>>> + Send,
    {
        self.walk_since(indexes, None, limit, cursor, load).await
    }

    /// [`Inspect::walk`] that stops at the first member scored before `since`.
    ///
    /// A cursor is the last item's score and member (`<score>:<member>`), and the next page starts after
    /// that place in the order (score, then member, both descending), so it keeps working when the item it
    /// names is deleted, and it names the same place in every shard's index.
    async fn walk_since<T, Load>(
        &self,
        indexes: &[String],
        since: Option<Timestamp>,
        limit: usize,
        cursor: Option<&str>,
        load: impl Fn(Vec<String>) -> Load,
    ) -> Result<Page<T>>
    where
        T: Serialize + Listed,
        Load: Future<Output = Result<Vec<T>>> + Send,
    {
        let after = match cursor {
            None => None,
            Some(cursor) => Some(self.cursor_place(indexes, cursor).await?),
        };
        let max = after.as_ref().map_or_else(|| "+inf".to_string(), |(score, _)| score.to_string());
        let min = since.map_or_else(|| "-inf".to_string(), |since| since.as_millisecond().to_string());
        let mut merged = MergedIndexes::new(indexes, max, min, after);
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut chunk = FIRST_CHUNK.min(limit);
        let (mut last, mut examined) = (None, 0);
        loop {
            if merged.read >= SCAN_BUDGET {
                // A selective filter: answer what was found so far; the cursor resumes the walk.
                return Ok(Page { items, next_cursor: last.map(cursor_of) });
            }
            let wanted = (limit - items.len()).min(chunk);
            // A filter that keeps few members: read as many as it took per item so far, doubling while none
            // was kept, so that a selective filter takes a few round trips rather than one per `wanted`.
            let entries = match (examined, items.len()) {
                (0, _) => wanted,
                (_, 0) => examined * 2,
                (examined, kept) => (wanted * examined).div_ceil(kept),
            };
            let entries = entries.clamp(wanted, MAX_CHUNK_ENTRIES.max(wanted)).min(SCAN_BUDGET - merged.read).max(1);
            let page = merged.next(&mut self.conn.clone(), entries).await?;
            examined += page.len();
            let exhausted = page.len() < entries;
            let previous = last.take();
            last = page.last().cloned().or(previous.clone());
            let mut loaded = load(page.iter().map(|(member, _)| member.clone()).collect()).await?;
            if loaded.len() > wanted {
                // More were kept than this read was for (the filter matched more densely here): the page ends
                // at the last item it takes, and the next one starts after it.
                loaded.truncate(wanted);
                let end = loaded.last().map(Listed::member);
                let place = page.into_iter().find(|(member, _)| Some(member) == end.as_ref()).or(previous);
                items.extend(loaded);
                return Ok(Page { items, next_cursor: place.map(cursor_of) });
            }
            bytes += loaded.iter().map(|item| serde_json::to_vec(item).map_or(0, |json| json.len())).sum::<usize>();
            items.extend(loaded);
            if exhausted {
                return Ok(Page { items, next_cursor: None });
            }
            if items.len() >= limit || bytes >= MAX_PAGE_BYTES {
                let more = merged.has_more(&mut self.conn.clone()).await?;
                return Ok(Page { items, next_cursor: more.then(|| last.map(cursor_of)).flatten() });
            }
            // The next read takes as many items as the byte budget still holds at the size seen so far.
            let average = bytes / items.len().max(1);
            chunk = (MAX_PAGE_BYTES.saturating_sub(bytes) / average.max(1)).clamp(1, limit);
        }
    }

    /// The place a cursor names: `<score>:<member>`, or (as cursors were before) a bare member still in one of
    /// the indexes.
    async fn cursor_place(&self, indexes: &[String], cursor: &str) -> Result<(f64, String)> {
        let invalid = || Error::invalid("cursor", "the cursor is unknown or expired; start again without it");
        if let Some((score, member)) = cursor.split_once(':') {
            let score: f64 = score.parse().map_err(|_| invalid())?;
            return if score.is_finite() { Ok((score, member.to_string())) } else { Err(invalid()) };
        }
        let mut conn = self.conn.clone();
        for index in indexes {
            let score: Option<f64> = conn.zscore(index, cursor).await?;
            if let Some(score) = score {
                return Ok((score, cursor.to_string()));
            }
        }
        Err(invalid())
    }

    /// Every queue that ever held a job, in any shard.
    pub async fn queue_names(&self) -> Result<Vec<QueueName>> {
        let mut queues = BTreeSet::new();
        for keys in self.keys.shards() {
            queues.extend(self.shard_queue_names(&keys).await?.into_iter().map(|queue| queue.to_string()));
        }
        Ok(queues.into_iter().filter_map(|name| QueueName::parse(&name).ok()).collect())
    }

    /// Every queue that ever held a job of one shard.
    pub(crate) async fn shard_queue_names(&self, keys: &ShardKeys) -> Result<Vec<QueueName>> {
        let mut conn = self.conn.clone();
        let names: Vec<String> = conn.smembers(keys.queues()).await?;
        let mut queues: Vec<QueueName> = names.iter().filter_map(|name| QueueName::parse(name).ok()).collect();
        queues.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(queues)
    }

    /// When the earliest lease of `queues` ends, if any job is claimed there.
    pub async fn earliest_lease_expiry(&self, queues: &[QueueName]) -> Result<Option<Timestamp>> {
        let commands = self
            .keys
            .shards()
            .iter()
            .flat_map(|keys| queues.iter().map(|queue| keys.leases(queue)))
            .map(|key| {
                let mut command = redis::cmd("ZRANGE");
                command.arg(&key).arg(0).arg(0).arg("WITHSCORES");
                (key, command)
            })
            .collect();
        let earliest: Vec<Vec<(String, i64)>> = self.pipelined(commands).await?;
        Ok(earliest.into_iter().flatten().map(|(_, expiry)| from_millis(expiry)).min())
    }

    /// The jobs of `queue`, in every shard, that the running hashes give to `worker`.
    pub(crate) async fn held_by(&self, queue: &QueueName, worker: &str) -> Result<Vec<JobId>> {
        let mut conn = self.conn.clone();
        let mut held = Vec::new();
        for keys in self.keys.shards() {
            let running: HashMap<String, String> = conn.hgetall(keys.running(queue)).await?;
            for (job, _) in running.into_iter().filter(|(_, owner)| owner == worker) {
                held.push(job.parse()?);
            }
        }
        Ok(held)
    }

    /// Up to `count` jobs of `queue` in one shard whose lease expired before `now`, with the worker that held
    /// them.
    pub(crate) async fn expired_leases(
        &self,
        keys: &ShardKeys,
        queue: &QueueName,
        now: Timestamp,
        count: usize,
    ) -> Result<Vec<(JobId, String)>> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .zrangebyscore_limit(
                keys.leases(queue),
                "-inf",
                format!("({}", now.as_millisecond()),
                0,
                isize::try_from(count).unwrap_or(100),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let owners: Vec<Option<String>> = conn.hmget(keys.running(queue), &ids).await?;
        ids.iter().zip(owners).map(|(id, owner)| Ok((id.parse()?, owner.unwrap_or_default()))).collect()
    }

    /// The running execution of a job waiting in `queue`, its schedule (an ad-hoc run's built from its job)
    /// and how many of its deliveries were lost before (leases that expired), if both still exist: what an
    /// expired lease abandoned.
    pub(crate) async fn abandoned_attempt(&self, job: &JobId, queue: &QueueName) -> Result<Option<Abandoned>> {
        let mut conn = self.conn.clone();
        let job_key = self.keys.of_job(job).job(job);
        let fields: HashMap<String, String> = conn.hgetall(&job_key).await?;
        let Some(id) = fields.get("execution_id").and_then(|id| id.parse::<ExecutionId>().ok()) else {
            return Ok(None);
        };
        let Some(execution) = self.executions_by_id(&[id]).await?.pop().filter(|e| e.state == ExecutionState::Running)
        else {
            return Ok(None);
        };
        let schedule = if is_run(&fields) {
            decode_run(job, queue, &fields).map_err(|detail| Error::corrupt(job_key, detail))
        } else {
            self.schedule(job.schedule()).await
        };
        let lost_before = fields.get("lost").and_then(|count| count.parse().ok()).unwrap_or(0);
        match schedule {
            Ok(schedule) => Ok(Some(Abandoned { execution, schedule, lost_before })),
            Err(Error::NotFound { .. }) => Ok(None),
            // Handed back as it is, so that it runs once the record is repaired.
            Err(Error::Corrupt { key, detail }) => {
                tracing::error!(record.key = %key, job.id = %job, "job {job} cannot be recovered as it stands: \
                    {key} does not decode ({detail}); handing it back");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// The next attempt of an ad-hoc run no worker holds yet, with the one-shot schedule it would run under,
    /// if `id` is that: what cancelling a queued run ends. `None` for a schedule's job, a running attempt, or
    /// a run queued before runs recorded their queue.
    pub(crate) async fn queued_run(&self, id: &ExecutionId) -> Result<Option<(Schedule, Execution)>> {
        let mut conn = self.conn.clone();
        let job_key = self.keys.of_job(&id.job).job(&id.job);
        let fields: HashMap<String, String> = conn.hgetall(&job_key).await?;
        let fields = self.with_bare_runs(&[&id.job], vec![fields]).await?.pop().unwrap_or_default();
        let Some(queue) = fields.get("queue").filter(|_| is_run(&fields)) else { return Ok(None) };
        let Some(queued) = decode_live_execution(id, &fields, None).filter(|e| e.started_at.is_none()) else {
            return Ok(None);
        };
        let run = decode_run(&id.job, &QueueName::stored(queue.clone()), &fields)
            .map_err(|detail| Error::corrupt(job_key, detail))?;
        Ok(Some((run, queued)))
    }

    /// `hashes`, the job hashes of `jobs` as read, with what a queued bare run's id says filled in where the
    /// run has no record yet (see [`BareRun`]): its workflow (from its shard's `run-workflows`), the queue it
    /// waits in (the first of its shard's queues whose delayed set or ready list holds it) and its due time.
    /// Left as read for a run in no queue: one that ended, or never was.
    async fn with_bare_runs(
        &self,
        jobs: &[&JobId],
        mut hashes: Vec<HashMap<String, String>>,
    ) -> Result<Vec<HashMap<String, String>>> {
        let bare: Vec<(usize, BareRun)> = jobs
            .iter()
            .zip(&hashes)
            .enumerate()
            .filter(|(_, (_, hash))| !hash.contains_key("workflow_id") && !hash.contains_key("schedule_id"))
            .filter_map(|(index, (job, _))| Some((index, BareRun::of(job)?)))
            .collect();
        if bare.is_empty() {
            return Ok(hashes);
        }
        let mut conn = self.conn.clone();
        let mut queues_of: HashMap<String, Vec<QueueName>> = HashMap::new();
        for (index, _) in &bare {
            let queues_key = self.keys.of_job(jobs[*index]).queues();
            if let std::collections::hash_map::Entry::Vacant(entry) = queues_of.entry(queues_key) {
                let names: Vec<String> = conn.smembers(entry.key()).await?;
                entry.insert(names.into_iter().map(QueueName::stored).collect());
            }
        }
        let mut commands = Vec::new();
        for (index, run) in &bare {
            let (job, keys) = (jobs[*index], self.keys.of_job(jobs[*index]));
            let workflows = keys.run_workflows();
            commands.push((workflows.clone(), redis::Cmd::hget(&workflows, &run.tag)));
            for queue in &queues_of[&keys.queues()] {
                let (delayed, ready) = (keys.delayed(queue), keys.ready(queue));
                commands.push((delayed.clone(), redis::Cmd::zscore(&delayed, job.to_string())));
                let mut position = redis::cmd("LPOS");
                position.arg(&ready).arg(job.to_string());
                commands.push((ready, position));
            }
        }
        let mut answers = self.pipelined::<redis::Value>(commands).await?.into_iter();
        for (index, run) in &bare {
            let workflow: Option<String> = answers.next().and_then(|answer| redis::from_redis_value(answer).ok());
            let queues = &queues_of[&self.keys.of_job(jobs[*index]).queues()];
            let found: Vec<bool> = answers.by_ref().take(queues.len() * 2).map(|a| a != redis::Value::Nil).collect();
            let queue = queues.iter().zip(found.chunks(2)).find(|(_, found)| found.contains(&true)).map(|(q, _)| q);
            if let (Some(workflow), Some(queue)) = (workflow, queue) {
                let hash = &mut hashes[*index];
                hash.insert("workflow_id".to_string(), workflow);
                hash.insert("queue".to_string(), queue.to_string());
                hash.insert("due_ms".to_string(), run.due_ms.to_string());
            }
        }
        Ok(hashes)
    }

    /// The deliveries a job has had so far: none without an `attempt` field, or without a record (a live job
    /// waiting, see `lib/enqueue.lua`).
    pub(crate) async fn job_attempt(&self, job: &JobId) -> Result<u32> {
        let mut conn = self.conn.clone();
        let attempt: Option<u32> = conn.hget(self.keys.of_job(job).job(job), "attempt").await?;
        Ok(attempt.unwrap_or(0))
    }

    /// The next backfill job of a schedule waiting for its turn.
    pub(crate) async fn backfill_head(&self, schedule_id: Uuid) -> Result<Option<JobId>> {
        let mut conn = self.conn.clone();
        let head: Option<String> = conn.lindex(self.keys.of(schedule_id).backfill(schedule_id), 0).await?;
        head.map(|id| id.parse()).transpose()
    }

    /// The queues and the handlers of each live worker, as comma-separated lists. A worker whose description
    /// expired is not live, even if the index still lists it.
    async fn live_workers(&self) -> Result<Vec<(String, String)>> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn.zrange(self.keys.workers(), 0, -1).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hmget(self.keys.worker(id), &["queues", "handlers"]);
        }
        let described: Vec<(Option<String>, Option<String>)> = pipe.query_async(&mut conn).await?;
        Ok(described.into_iter().filter_map(|(queues, handlers)| Some((queues?, handlers?))).collect())
    }

    /// What keeps runs waiting, for each distinct (workflow, queue) of `runs` (`None`: on any queue): whether
    /// no live worker consumes the queue, and which handlers the workflow calls that no live worker (of the
    /// queue) offers. Two round trips, however many runs.
    pub async fn run_waits(&self, runs: impl IntoIterator<Item = (Uuid, Option<QueueName>)>) -> Result<Vec<RunWait>> {
        let runs: BTreeSet<(Uuid, Option<QueueName>)> = runs.into_iter().collect();
        let workflows: Vec<String> =
            runs.iter().map(|(id, _)| id.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
        if workflows.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let stored: Vec<Option<String>> =
            redis::cmd("HMGET").arg(self.keys.workflow_requirements()).arg(&workflows).query_async(&mut conn).await?;
        let mut needs = BTreeMap::new();
        for (id, requirements) in workflows.iter().zip(stored) {
            let requirements: serde_json::Value = match requirements {
                Some(text) => serde_json::from_str(&text).map_err(|error| {
                    Error::corrupt(format!("{} field {id}", self.keys.workflow_requirements()), error.to_string())
                })?,
                None => serde_json::Value::Null,
            };
            let handlers: Vec<String> = requirements["handlers"]
                .as_array()
                .map(|names| names.iter().filter_map(|name| name.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            needs.insert(id.clone(), handlers);
        }
        let workers = self.live_workers().await?;
        let consumes = |queues: &str, queue: &QueueName| queues.split(',').any(|name| name == queue.as_str());
        Ok(runs
            .into_iter()
            .map(|(workflow_id, queue)| {
                let serving: Vec<&(String, String)> =
                    workers.iter().filter(|(queues, _)| queue.as_ref().is_none_or(|q| consumes(queues, q))).collect();
                let offered = |handler: &String| {
                    serving.iter().any(|(_, handlers)| handlers.split(',').any(|name| name == handler))
                };
                let unoffered_handlers =
                    needs[&workflow_id.to_string()].iter().filter(|handler| !offered(handler)).cloned().collect();
                RunWait {
                    workflow_id,
                    unserved_queue: queue.is_some() && serving.is_empty(),
                    queue,
                    unoffered_handlers,
                }
            })
            .collect())
    }

    /// Whether schedules of one shard use workflow `id`: its count of uses, or the index a deployment kept
    /// before it (see `lib/workflow_uses.lua`).
    pub(crate) async fn uses_workflow(&self, keys: &ShardKeys, id: Uuid) -> Result<bool> {
        let mut conn = self.conn.clone();
        let (counted, indexed): (bool, bool) = redis::pipe()
            .hexists(keys.workflow_uses(), id.to_string())
            .exists(keys.legacy_workflow_schedules(id))
            .query_async(&mut conn)
            .await?;
        Ok(counted || indexed)
    }

    /// Workflow id → what a run of it needs, as the home records say (`None`) or as a shard's copy says.
    pub(crate) async fn workflow_requirements(&self, shard: Option<&ShardKeys>) -> Result<HashMap<String, String>> {
        let key = shard.map_or_else(|| self.keys.workflow_requirements(), ShardKeys::workflow_requirements);
        let mut conn = self.conn.clone();
        Ok(conn.hgetall(key).await?)
    }

    /// One version of a workflow, as it was saved.
    pub async fn workflow_version(&self, id: Uuid, version: u32) -> Result<Workflow> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.hget(self.keys.workflow_versions(id), version).await?;
        let json = json.ok_or_else(|| Error::not_found("workflow version", format!("{id} v{version}")))?;
        serde_json::from_str(&json).map_err(|error| {
            Error::corrupt(format!("{} field {version}", self.keys.workflow_versions(id)), error.to_string())
        })
    }

    /// The records a worker found it could not decode, by key, with why, in every shard.
    pub async fn corrupt_records(&self) -> Result<BTreeMap<String, String>> {
        let mut records = BTreeMap::new();
        for keys in self.keys.shards() {
            records.extend(self.shard_corrupt_records(&keys).await?);
        }
        Ok(records)
    }

    /// The records noted as not decoding in one shard.
    pub(crate) async fn shard_corrupt_records(&self, keys: &ShardKeys) -> Result<BTreeMap<String, String>> {
        let mut conn = self.conn.clone();
        Ok(conn.hgetall(keys.corrupt_records()).await?)
    }
}

/// An attempt whose worker stopped renewing its lease.
pub(crate) struct Abandoned {
    pub execution: Execution,
    pub schedule: Schedule,
    /// Earlier deliveries of the job that were lost the same way (graceful hand-backs do not count).
    pub lost_before: u32,
}

/// What `/healthz` reports of Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisHealth {
    Ok,
    /// `used_memory` reached `maxmemory` under `noeviction`: Redis refuses writes.
    OutOfMemory {
        used: u64,
        max: u64,
    },
}

impl RedisHealth {
    /// Reads the answer of `INFO memory`.
    fn from_info(info: &str) -> Self {
        let field = |name: &str| info_field(info, name).unwrap_or("");
        let (used, max) = (field("used_memory").parse().unwrap_or(0), field("maxmemory").parse().unwrap_or(0));
        if max > 0 && used >= max && field("maxmemory_policy") == "noeviction" {
            Self::OutOfMemory { used, max }
        } else {
            Self::Ok
        }
    }
}

/// Sorted sets read as one, from the highest (score, member) down, between `max` and `min` and after a
/// cursor's place: the shards' indexes of one listing.
struct MergedIndexes {
    sources: Vec<IndexSource>,
    max: String,
    min: String,
    after: Option<(f64, String)>,
    /// Index members read so far past the cursor, across the sources. Those sharing the cursor's score that
    /// came before it (earlier pages' members of one millisecond, up to a bulk request's 1,000) are read
    /// again but not counted, so a page that ends in such a group does not shorten the next request's walk.
    read: usize,
}

struct IndexSource {
    index: String,
    /// Members of this index read so far (past the cursor or not).
    offset: usize,
    /// Members read and not yet handed out, highest first.
    buffered: std::collections::VecDeque<(String, f64)>,
    exhausted: bool,
}

impl MergedIndexes {
    fn new(indexes: &[String], max: String, min: String, after: Option<(f64, String)>) -> Self {
        let sources = indexes
            .iter()
            .map(|index| IndexSource {
                index: index.clone(),
                offset: 0,
                buffered: Default::default(),
                exhausted: false,
            })
            .collect();
        Self { sources, max, min, after, read: 0 }
    }

    /// Up to `count` next members in the merged order; fewer only when every index ended.
    async fn next(&mut self, conn: &mut RedisConnection, count: usize) -> Result<Vec<(String, f64)>> {
        let mut page = Vec::with_capacity(count);
        while page.len() < count {
            self.refill(conn, count).await?;
            let highest = self.sources.iter_mut().filter(|source| !source.buffered.is_empty()).max_by(|a, b| {
                let (a, b) = (&a.buffered[0], &b.buffered[0]);
                a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0))
            });
            match highest.and_then(|source| source.buffered.pop_front()) {
                Some(member) => page.push(member),
                None => break,
            }
        }
        Ok(page)
    }

    /// Reads the next `count` members of every index whose buffer ran dry, in one pipeline per hash tag,
    /// until each has a member past the cursor or has ended.
    async fn refill(&mut self, conn: &mut RedisConnection, count: usize) -> Result<()> {
        loop {
            let dry: Vec<usize> = (0..self.sources.len())
                .filter(|position| self.sources[*position].buffered.is_empty() && !self.sources[*position].exhausted)
                .collect();
            if dry.is_empty() {
                return Ok(());
            }
            let reads = dry
                .iter()
                .map(|position| {
                    let source = &self.sources[*position];
                    let read = by_score_descending(&source.index, &self.max, &self.min, source.offset, count)
                        .arg("WITHSCORES")
                        .to_owned();
                    (source.index.clone(), read)
                })
                .collect();
            let pages: Vec<Vec<(String, f64)>> = pipelined(conn, reads).await?;
            for (position, read) in dry.into_iter().zip(pages) {
                let source = &mut self.sources[position];
                source.offset += read.len();
                source.exhausted = read.len() < count;
                // Members that share the cursor's score and come before it in the order were on earlier pages.
                let before = source.buffered.len();
                source.buffered.extend(read.into_iter().filter(|(member, score)| {
                    self.after.as_ref().is_none_or(|(after_score, after_member)| {
                        score < after_score || member.as_str() < after_member.as_str()
                    })
                }));
                self.read += source.buffered.len() - before;
            }
        }
    }

    /// Whether any index holds a member past those handed out.
    async fn has_more(&mut self, conn: &mut RedisConnection) -> Result<bool> {
        for source in &self.sources {
            if !source.buffered.is_empty() {
                return Ok(true);
            }
            if !source.exhausted {
                let more: Vec<String> = by_score_descending(&source.index, &self.max, &self.min, source.offset, 1)
                    .query_async(conn)
                    .await?;
                if !more.is_empty() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Runs `commands`, each routed by the key beside it, in one pipeline per hash tag (a cluster takes a
/// pipeline in one slot only); the answers in the order of `commands`.
async fn pipelined<T: redis::FromRedisValue>(
    conn: &mut RedisConnection,
    commands: Vec<(String, redis::Cmd)>,
) -> Result<Vec<T>> {
    let mut by_tag: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (key, _)) in commands.iter().enumerate() {
        by_tag.entry(key.split_inclusive('}').next().unwrap_or(key)).or_default().push(index);
    }
    let mut answers: Vec<Option<T>> = commands.iter().map(|_| None).collect();
    for positions in by_tag.into_values() {
        let mut pipe = redis::pipe();
        for index in &positions {
            pipe.add_command(commands[*index].1.clone());
        }
        let answered: Vec<T> = pipe.query_async(conn).await?;
        for (index, answer) in positions.into_iter().zip(answered) {
            answers[index] = Some(answer);
        }
    }
    Ok(answers.into_iter().flatten().collect())
}

/// `ZRANGE` of up to `count` members of `index` scored from `max` down to `min`, skipping `offset`.
fn by_score_descending(index: &str, max: &str, min: &str, offset: usize, count: usize) -> redis::Cmd {
    let mut command = redis::cmd("ZRANGE");
    command.arg(index).arg(max).arg(min).arg("BYSCORE").arg("REV").arg("LIMIT").arg(offset).arg(count);
    command
}

/// The cursor that resumes a walk after `member`, scored `score`.
fn cursor_of((member, score): (String, f64)) -> String {
    format!("{score}:{member}")
}

/// Records read in one go: each decoded, or the key it is stored under and why it does not decode.
pub type Decoded<T> = Vec<Result<T, (String, String)>>;

/// The records of a listing that decode; each one that does not is logged with its key and left out, so one
/// damaged record cannot hide the others.
fn skip_corrupt<T>(decoded: Decoded<T>) -> Vec<T> {
    decoded
        .into_iter()
        .filter_map(|record| {
            record
                .inspect_err(|(key, detail)| {
                    tracing::warn!(record.key = %key, "left out of a listing: {key} does not decode ({detail})");
                })
                .ok()
        })
        .collect()
}
