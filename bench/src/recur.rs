//! recur's side of each workload: the API and one worker in this process (as the binaries run them), or the
//! built binaries where a process must die. Each workload uses a deployment prefix of its own.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use futures_util::{StreamExt, stream};
use jiff::{SignedDuration, Timestamp};
use recur_common::{
    clock::SystemClock,
    config::RedisSettings,
    connection::RedisConnection,
    keys::Keys,
    model::{QueueName, ScheduleStatus},
    store::Store,
    testing::{RedisUnderTest, TestCluster, TestRedis},
};
use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::stats;

/// What W1 measured.
pub struct Throughput {
    pub enqueue_per_second: f64,
    pub enqueue_commands_per_job: f64,
    pub jobs_per_second: f64,
    pub commands_per_job: f64,
    pub round_trips_per_job: f64,
    pub bytes_per_queued_job: f64,
    /// CPU milliseconds per 1,000 jobs processed: Redis's, and the worker process's.
    pub redis_cpu_ms: f64,
    pub worker_cpu_ms: f64,
    pub by_command: BTreeMap<String, f64>,
}

/// Start lateness of one-shot jobs, in milliseconds.
pub struct Lateness {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub early_starts: usize,
}

/// The API and one worker of deployment `prefix`, running in this process until dropped.
struct Deployment {
    store: Store,
    keys: Keys,
    settings: RedisSettings,
    api: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Deployment {
    async fn start(redis: &impl RedisUnderTest, prefix: &str, concurrency: usize) -> anyhow::Result<Self> {
        Self::start_sharded(redis, prefix, concurrency, 1).await
    }

    /// The API and one worker with `concurrency`, for a deployment of `shards` shards.
    async fn start_sharded(
        redis: &impl RedisUnderTest,
        prefix: &str,
        concurrency: usize,
        shards: usize,
    ) -> anyhow::Result<Self> {
        let deployment = Self::start_sharded_api(redis, prefix, shards).await?;
        deployment.start_worker(concurrency)?;
        Ok(deployment)
    }

    /// One worker with `concurrency`, its reconciler passes an hour apart, on a thread and a single-threaded
    /// runtime of its own, as `recur-worker` runs.
    fn start_worker(&self, concurrency: usize) -> anyhow::Result<()> {
        let mut worker = recur_worker::Settings::from_env()?;
        worker.redis = self.settings.clone();
        worker.concurrency = concurrency;
        worker.reconcile_every = Duration::from_secs(3600);
        worker.worker_id = format!("bench-{}", self.settings.prefix);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let shutdown = self.shutdown.clone();
        std::thread::Builder::new().name(worker.worker_id.clone()).spawn(move || {
            if let Err(error) = runtime.block_on(recur_worker::run(worker, recur_worker::Handlers::default(), shutdown))
            {
                eprintln!("bench worker stopped: {error:#}");
            }
        })?;
        Ok(())
    }

    /// The API alone, on one server or a cluster, for a deployment of one shard.
    async fn start_api(redis: &impl RedisUnderTest, prefix: &str) -> anyhow::Result<Self> {
        Self::start_sharded_api(redis, prefix, 1).await
    }

    /// The API alone, for a deployment of `shards` shards.
    async fn start_sharded_api(redis: &impl RedisUnderTest, prefix: &str, shards: usize) -> anyhow::Result<Self> {
        let settings = RedisSettings { prefix: prefix.to_string(), shards, ..RedisSettings::for_url(redis.url()) };
        let shutdown = CancellationToken::new();
        let mut api = recur_api::Settings::from_env()?;
        api.redis = settings.clone();
        api.addr = ([127, 0, 0, 1], 0).into();
        api.api_keys = Vec::new();
        let app = recur_api::Application::build(api).await?;
        let url = format!("http://127.0.0.1:{}/api/v1", app.port()?);
        let stopped = shutdown.clone();
        tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
        let store = Store::sharded(settings.connect().await?, settings.keys(), Arc::new(SystemClock));
        Ok(Self { store, keys: settings.keys(), settings, api: url, http: reqwest::Client::new(), shutdown })
    }

    /// The bytes the deployment's keys hold (see [`stats::key_bytes`]): those of its home tag and its shards'.
    async fn bytes(&self, conn: &mut RedisConnection) -> anyhow::Result<u64> {
        stats::key_bytes(conn, &format!("{{{}[}}:]*", self.keys.prefix())).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self.http.post(format!("{}{path}", self.api)).json(&body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    async fn noop_workflow(&self) -> anyhow::Result<String> {
        let workflow = self.post("/workflows", json!({"name": "noop", "steps": [{"kind": "log", "message": "noop"}]}));
        Ok(workflow.await?["id"].as_str().context("workflow id")?.to_string())
    }

    /// One-shot jobs of `workflow` (ad-hoc runs with a `run_at`), one per due time, through the bulk endpoint
    /// (see [`Self::post_in_bulk`]). Their execution ids, in order.
    async fn one_shot_runs(&self, workflow: &str, dues: &[Timestamp]) -> anyhow::Result<Vec<String>> {
        self.runs(workflow, dues.len(), |i| json!({"run_at": dues[i]})).await
    }

    /// `count` ad-hoc runs of `workflow`, the `i`th with the body `item(i)`, through the bulk endpoint (see
    /// [`Self::post_in_bulk`]). Their execution ids, in order.
    async fn runs(&self, workflow: &str, count: usize, item: impl Fn(usize) -> Value) -> anyhow::Result<Vec<String>> {
        let queued = self.post_in_bulk(&format!("/workflows/{workflow}/runs"), count, item).await?;
        queued.iter().map(|run| Ok(run["execution_id"].as_str().context("execution id")?.to_string())).collect()
    }

    /// Posts `count` items, the `i`th `item(i)`, to the bulk endpoint `path`: 1,000 a request, 4 requests in
    /// flight. The answers' items, in order.
    async fn post_in_bulk(
        &self,
        path: &str,
        count: usize,
        item: impl Fn(usize) -> Value,
    ) -> anyhow::Result<Vec<Value>> {
        let answers: Vec<anyhow::Result<Value>> = stream::iter((0..count).step_by(1_000))
            .map(|first| {
                let items: Vec<Value> = (first..(first + 1_000).min(count)).map(&item).collect();
                self.post(path, json!({ "items": items }))
            })
            .buffered(4)
            .collect()
            .await;
        let mut items = Vec::with_capacity(count);
        for answer in answers {
            items.extend(answer?["items"].as_array().context("items")?.iter().cloned());
        }
        Ok(items)
    }

    /// Waits until no job of the default queue waits or is held (a finish takes the job out of `running`);
    /// the number of polls it took (one ZCARD, LLEN and HLEN each).
    async fn wait_drained(&self, conn: &mut RedisConnection) -> anyhow::Result<u64> {
        let queue = QueueName::default();
        let started = Instant::now();
        let mut polls = 0;
        loop {
            polls += 1;
            let (mut later, mut waiting, mut held) = (0, 0, 0);
            for keys in self.keys.shards() {
                let (delayed, ready, running): (usize, usize, usize) = redis::pipe()
                    .zcard(keys.delayed(&queue))
                    .llen(keys.ready(&queue))
                    .hlen(keys.running(&queue))
                    .query_async(conn)
                    .await?;
                (later, waiting, held) = (later + delayed, waiting + ready, held + running);
            }
            if later + waiting + held == 0 {
                return Ok(polls);
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("{later} jobs delayed, {waiting} ready and {held} held after 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One-shot schedules of `workflow`, one per due time.
    async fn one_shots(&self, workflow: &str, dues: &[Timestamp]) -> anyhow::Result<Vec<uuid::Uuid>> {
        self.create_in_bulk(dues.len(), |i| json!({"workflow_id": workflow, "run_at": dues[i]})).await
    }

    /// `count` schedules, the `i`th with the body `item(i)`, through the bulk endpoint, as
    /// [`Self::post_in_bulk`]. Their ids, in order.
    async fn create_in_bulk(&self, count: usize, item: impl Fn(usize) -> Value) -> anyhow::Result<Vec<uuid::Uuid>> {
        let created = self.post_in_bulk("/schedules/batch", count, item).await?;
        created.iter().map(|schedule| Ok(schedule["id"].as_str().context("schedule id")?.parse()?)).collect()
    }

    /// Waits until `count` schedules are done; the number of polls it took.
    async fn wait_done(&self, conn: &mut RedisConnection, count: usize) -> anyhow::Result<u64> {
        let started = Instant::now();
        let mut polls = 0;
        loop {
            polls += 1;
            let done = self.done_count(conn).await?;
            if done >= count {
                return Ok(polls);
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("only {done} of {count} jobs done after 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many schedules are done, over every shard.
    async fn done_count(&self, conn: &mut RedisConnection) -> anyhow::Result<usize> {
        let mut done = 0;
        for keys in self.keys.shards() {
            done += conn.zcard::<_, usize>(keys.schedules_by_status(ScheduleStatus::Done)).await?;
        }
        Ok(done)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// W1: `jobs` no-op one-shot jobs (runs with a `run_at`) enqueued through the API, all due at one instant,
/// run by one worker.
pub async fn throughput(redis: &TestRedis, jobs: usize, concurrency: usize) -> anyhow::Result<Throughput> {
    let deployment = Deployment::start(redis, "w1", concurrency).await?;
    let mut conn = redis.connection().await;
    let workflow = deployment.noop_workflow().await?;
    let due = Timestamp::now() + SignedDuration::from_millis(3_000 + i64::try_from(jobs).unwrap_or(0) / 2);
    let bytes_before = deployment.bytes(&mut conn).await?;
    stats::reset(&mut conn).await?;
    let enqueue = Instant::now();
    deployment.one_shot_runs(&workflow, &vec![due; jobs]).await?;
    let enqueue_seconds = enqueue.elapsed().as_secs_f64();
    let enqueue_commands = stats::commands_since_reset(&mut conn).await? as f64 / jobs as f64;
    let bytes = deployment.bytes(&mut conn).await?.saturating_sub(bytes_before) as f64 / jobs as f64;
    if Timestamp::now() >= due {
        bail!("enqueueing {jobs} jobs took {enqueue_seconds:.1} s, past their due time; use fewer jobs");
    }
    tokio::time::sleep(Duration::try_from(due.duration_since(Timestamp::now())).unwrap_or_default()).await;
    stats::reset(&mut conn).await?;
    let cpu = Cpu::now(&mut conn).await?;
    let started = Instant::now();
    let polls = deployment.wait_drained(&mut conn).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.since(&mut conn).await?;
    let polls = [("zcard", polls), ("llen", polls), ("hlen", polls)];
    let figures = Figures { jobs, enqueue_seconds, enqueue_commands, seconds, bytes, cpu, polls: &polls };
    figures.measured(&mut conn).await
}

/// W1, ad-hoc: `jobs` no-op runs queued through `POST /workflows/{id}/runs` (due now) while no worker runs,
/// then drained by one starting worker.
pub async fn ad_hoc_throughput(redis: &TestRedis, jobs: usize, concurrency: usize) -> anyhow::Result<Throughput> {
    let deployment = Deployment::start_api(redis, "w1a").await?;
    let mut conn = redis.connection().await;
    let workflow = deployment.noop_workflow().await?;
    let bytes_before = deployment.bytes(&mut conn).await?;
    stats::reset(&mut conn).await?;
    let enqueue = Instant::now();
    deployment.runs(&workflow, jobs, |_| json!({})).await?;
    let enqueue_seconds = enqueue.elapsed().as_secs_f64();
    let enqueue_commands = stats::commands_since_reset(&mut conn).await? as f64 / jobs as f64;
    let bytes = deployment.bytes(&mut conn).await?.saturating_sub(bytes_before) as f64 / jobs as f64;
    stats::reset(&mut conn).await?;
    let cpu = Cpu::now(&mut conn).await?;
    let started = Instant::now();
    deployment.start_worker(concurrency)?;
    let polls = deployment.wait_drained(&mut conn).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.since(&mut conn).await?;
    let figures = Figures {
        jobs,
        enqueue_seconds,
        enqueue_commands,
        seconds,
        bytes,
        cpu,
        polls: &[("zcard", polls), ("llen", polls), ("hlen", polls)],
    };
    figures.measured(&mut conn).await
}

/// What the ad-hoc workload measured on a Redis Cluster.
pub struct ClusterThroughput {
    pub jobs_per_second: f64,
    pub commands_per_job: f64,
    /// Each primary's share of the Redis commands the jobs cost, busiest first.
    pub shares: Vec<f64>,
    /// How many of the deployment's shards each primary holds, in the order of `shares`.
    pub shards_per_primary: Vec<usize>,
    /// The largest difference between a shard's jobs and the mean over the shards, as a share of the mean
    /// (each job costs the same commands, so this is the spread of the commands over the shards).
    pub shard_deviation: f64,
}

/// W1a on `cluster`, with the deployment in `shards` shards: `jobs` no-op runs due now, queued while no
/// worker runs, drained by one starting worker that reaches the cluster through its seed nodes. Every node's
/// command counts are read on the node itself.
pub async fn cluster_throughput(
    cluster: &TestCluster,
    jobs: usize,
    concurrency: usize,
    shards: usize,
) -> anyhow::Result<ClusterThroughput> {
    let deployment = Deployment::start_sharded_api(cluster, &format!("w1c{shards}"), shards).await?;
    let workflow = deployment.noop_workflow().await?;
    let executions = deployment.runs(&workflow, jobs, |_| json!({})).await?;
    let mut per_shard = vec![0usize; shards];
    for execution in &executions {
        let execution: recur_common::model::ExecutionId = execution.parse()?;
        per_shard[deployment.keys.shard_of(execution.job.schedule())] += 1;
    }
    let mean = jobs as f64 / shards as f64;
    let shard_deviation = per_shard.iter().map(|count| (*count as f64 - mean).abs() / mean).fold(0.0, f64::max);
    let shard_primaries: Vec<u16> =
        deployment.keys.shards().iter().map(|keys| cluster.primary_of(&keys.queues())).collect();
    let mut nodes = Vec::new();
    for port in cluster.ports() {
        nodes.push((port, RedisSettings::for_url(format!("redis://127.0.0.1:{port}")).connect().await?));
    }
    for (_, node) in &mut nodes {
        stats::reset(node).await?;
    }
    let mut conn = cluster.connection().await;
    let started = Instant::now();
    deployment.start_worker(concurrency)?;
    let polls = deployment.wait_drained(&mut conn).await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut counts = Vec::with_capacity(nodes.len());
    for (port, node) in &mut nodes {
        let held = shard_primaries.iter().filter(|primary| *primary == port).count();
        // The bench's own polls (a ZCARD, LLEN and HLEN per shard each) ran on the nodes of the shards.
        let commands = stats::commands_since_reset(node).await?.saturating_sub(3 * polls * held as u64);
        counts.push((commands, held));
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = counts.iter().map(|(commands, _)| commands).sum();
    Ok(ClusterThroughput {
        jobs_per_second: jobs as f64 / seconds,
        commands_per_job: total as f64 / jobs as f64,
        shares: counts.iter().map(|(count, _)| *count as f64 / total.max(1) as f64).collect(),
        shards_per_primary: counts.iter().map(|(_, held)| *held).collect(),
        shard_deviation,
    })
}

/// CPU seconds of Redis and of this process: at a start, or used since it.
struct Cpu {
    redis: f64,
    worker: f64,
}

impl Cpu {
    async fn now(conn: &mut RedisConnection) -> anyhow::Result<Self> {
        Ok(Self { redis: stats::redis_cpu_seconds(conn).await?, worker: stats::own_cpu_seconds()? })
    }

    async fn since(&self, conn: &mut RedisConnection) -> anyhow::Result<Self> {
        let now = Self::now(conn).await?;
        Ok(Self { redis: now.redis - self.redis, worker: now.worker - self.worker })
    }
}

/// What a W1 variant timed, before Redis's command counts are read.
struct Figures<'a> {
    jobs: usize,
    enqueue_seconds: f64,
    /// Redis commands per job while they were enqueued, inside scripts included.
    enqueue_commands: f64,
    seconds: f64,
    bytes: f64,
    /// CPU seconds Redis and this process (the worker) used while the jobs were processed.
    cpu: Cpu,
    /// The bench's own polling commands, by command, to take out of the counts.
    polls: &'a [(&'a str, u64)],
}

impl Figures<'_> {
    async fn measured(&self, conn: &mut RedisConnection) -> anyhow::Result<Throughput> {
        let jobs = self.jobs as f64;
        let mut calls = stats::command_stats(conn).await?;
        // CONFIG RESETSTAT is the bench's too (INFO does not count the call that reports).
        calls.remove("config|resetstat");
        for (command, polls) in self.polls {
            if let Some(count) = calls.get_mut(*command) {
                *count = count.saturating_sub(*polls);
            }
        }
        let total: u64 = calls.values().sum();
        let round_trips = calls.get("evalsha").copied().unwrap_or(0) + calls.get("get").copied().unwrap_or(0);
        Ok(Throughput {
            enqueue_per_second: jobs / self.enqueue_seconds,
            enqueue_commands_per_job: self.enqueue_commands,
            jobs_per_second: jobs / self.seconds,
            commands_per_job: total as f64 / jobs,
            round_trips_per_job: round_trips as f64 / jobs,
            bytes_per_queued_job: self.bytes,
            redis_cpu_ms: self.cpu.redis * 1e6 / jobs,
            worker_cpu_ms: self.cpu.worker * 1e6 / jobs,
            by_command: calls
                .into_iter()
                .filter(|(_, calls)| *calls > 0)
                .map(|(command, calls)| (command, calls as f64 / jobs))
                .collect(),
        })
    }
}

/// W2: `jobs` one-shot jobs due spread evenly over `spread`, run by one idle worker, with the deployment in
/// `shards` shards.
pub async fn lateness(
    redis: &impl RedisUnderTest,
    jobs: usize,
    spread: Duration,
    concurrency: usize,
    shards: usize,
) -> anyhow::Result<Lateness> {
    let deployment = Deployment::start_sharded(redis, &format!("w2s{shards}"), concurrency, shards).await?;
    let mut conn = deployment.settings.connect().await?;
    let workflow = deployment.noop_workflow().await?;
    let first = Timestamp::now() + SignedDuration::from_secs(3);
    let step = spread.as_millis() as f64 / jobs as f64;
    let dues: Vec<Timestamp> =
        (0..jobs).map(|i| first + SignedDuration::from_millis((i as f64 * step) as i64)).collect();
    let ids = deployment.one_shot_runs(&workflow, &dues).await?;
    deployment.wait_drained(&mut conn).await?;
    let mut lateness_ms = Vec::with_capacity(jobs);
    for id in ids {
        let execution = deployment.store.inspect().execution(&id).await?;
        let started_at = execution.started_at.context("a started execution")?;
        lateness_ms.push(started_at.duration_since(execution.scheduled_for).as_secs_f64() * 1000.0);
    }
    lateness_ms.sort_by(f64::total_cmp);
    Ok(Lateness {
        p50_ms: stats::quantile(&lateness_ms, 0.5),
        p99_ms: stats::quantile(&lateness_ms, 0.99),
        max_ms: stats::quantile(&lateness_ms, 1.0),
        early_starts: lateness_ms.iter().filter(|ms| **ms < 0.0).count(),
    })
}

/// What W3 measured.
pub struct Recurring {
    pub fires: usize,
    pub duplicates: usize,
    pub misses: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub bytes_per_idle_schedule: f64,
    /// Redis's CPU per fire while the schedules fired, in µs: the work one fire costs Redis, done in turn.
    pub redis_cpu_per_fire_us: f64,
}

/// W3: `schedules` schedules every second, `repeats` times each, all on the same grid, run by one worker;
/// and before that, the bytes an idle schedule (with its pending job) takes.
pub async fn recurring(
    redis: &TestRedis,
    schedules: usize,
    repeats: u64,
    concurrency: usize,
) -> anyhow::Result<Recurring> {
    let deployment = Deployment::start(redis, "w3", concurrency).await?;
    let mut conn = redis.connection().await;
    let workflow = deployment.noop_workflow().await?;
    let bytes_before = deployment.bytes(&mut conn).await?;
    let far = Timestamp::now() + SignedDuration::from_hours(24);
    deployment
        .create_in_bulk(schedules, |_| json!({"workflow_id": workflow, "interval_seconds": 3600, "start_at": far}))
        .await?;
    let bytes = deployment.bytes(&mut conn).await?.saturating_sub(bytes_before) as f64 / schedules as f64;

    // On a whole second, as a scheduler would align them.
    let start_ms = (Timestamp::now().as_millisecond() / 1_000 + 4) * 1_000;
    let start = Timestamp::from_millisecond(start_ms)?;
    let every = json!({"workflow_id": workflow, "interval_seconds": 1, "repeat_count": repeats, "start_at": start});
    let ids = deployment.create_in_bulk(schedules, |_| every.clone()).await?;
    let cpu = Cpu::now(&mut conn).await?;
    let done_by = start + SignedDuration::from_secs(i64::try_from(repeats).unwrap_or(0) + 10);
    while deployment.done_count(&mut conn).await? < schedules && Timestamp::now() < done_by {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let redis_cpu = cpu.since(&mut conn).await?.redis;
    let (mut fires, mut duplicates, mut lateness_ms) = (0, 0, Vec::new());
    for id in ids {
        let page = deployment.store.inspect().executions(id, 500, None).await?;
        let mut jobs = std::collections::HashSet::new();
        for execution in page.items.iter().filter(|e| e.state == recur_common::model::ExecutionState::Succeeded) {
            fires += 1;
            if !jobs.insert(execution.job_id.clone()) {
                duplicates += 1;
            }
            let started_at = execution.started_at.context("a succeeded execution has a start")?;
            lateness_ms.push(started_at.duration_since(execution.scheduled_for).as_secs_f64() * 1000.0);
        }
    }
    lateness_ms.sort_by(f64::total_cmp);
    Ok(Recurring {
        fires,
        duplicates,
        misses: (schedules * usize::try_from(repeats).unwrap_or(0)).saturating_sub(fires - duplicates),
        p50_ms: stats::quantile(&lateness_ms, 0.5),
        p99_ms: stats::quantile(&lateness_ms, 0.99),
        bytes_per_idle_schedule: bytes,
        redis_cpu_per_fire_us: redis_cpu * 1e6 / fires.max(1) as f64,
    })
}

/// recur alone at scale: idle schedules created through the bulk endpoint.
pub struct Scale {
    pub create_per_second: f64,
    pub bytes_per_schedule: f64,
    pub reconcile_pass_ms: f64,
}

/// Creates `schedules` healthy idle schedules (first run a day away) through the bulk endpoint, then times
/// one reconciler pass over them.
pub async fn scale(redis: &TestRedis, schedules: usize) -> anyhow::Result<Scale> {
    let deployment = Deployment::start_api(redis, "scale").await?;
    let mut conn = redis.connection().await;
    let workflow = deployment.noop_workflow().await?;
    let far = Timestamp::now() + SignedDuration::from_hours(24);
    let bytes_before = deployment.bytes(&mut conn).await?;
    let started = Instant::now();
    deployment
        .create_in_bulk(schedules, |_| json!({"workflow_id": workflow, "interval_seconds": 3600, "start_at": far}))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = deployment.bytes(&mut conn).await?.saturating_sub(bytes_before) as f64 / schedules as f64;
    let pass = Instant::now();
    deployment.store.reconcile().await?;
    Ok(Scale {
        create_per_second: schedules as f64 / seconds,
        bytes_per_schedule: bytes,
        reconcile_pass_ms: pass.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The dashboard's schedule list over many schedules, in headless Chromium.
pub struct DashboardTimes {
    /// From the start of the page load to the first page of 50 shown, ms: the median and the slowest.
    pub load_median_ms: f64,
    pub load_max_ms: f64,
    /// From the listing request to its table, ms: the median.
    pub request_median_ms: f64,
}

/// Creates `schedules` idle schedules, then loads the dashboard's schedule list `loads` times in headless
/// Chromium, reading the page's own timing marks.
pub async fn dashboard(redis: &TestRedis, schedules: usize, loads: usize) -> anyhow::Result<DashboardTimes> {
    let deployment = Deployment::start_api(redis, "dashboard").await?;
    let workflow = deployment.noop_workflow().await?;
    let far = Timestamp::now() + SignedDuration::from_hours(24);
    deployment
        .create_in_bulk(schedules, |i| {
            json!({"name": format!("nightly-{i:05}"), "workflow_id": workflow, "interval_seconds": 3600, "start_at": far})
        })
        .await?;
    let page = format!("{}/ui/schedules", deployment.api.trim_end_matches("/api/v1"));
    let browser = recur_common::testing::browser::Browser::start(1280, 1000).await;
    let (mut loads_ms, mut requests_ms) = (Vec::new(), Vec::new());
    // The first load warms the browser's caches up; it is not counted.
    for _ in 0..=loads {
        browser.goto(&page).await;
        let marks = loop {
            let marks = browser
                .client
                .execute(
                    "const d = document.getElementById('main').dataset; return [d.shownAtMs, d.renderedMs];",
                    vec![],
                )
                .await?;
            let rows = browser.client.find_all(fantoccini::Locator::Css("#schedules tbody tr")).await?.len();
            if let (Some(shown), Some(request), 50) = (marks[0].as_str(), marks[1].as_str(), rows) {
                break (shown.parse::<f64>()?, request.parse::<f64>()?);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        loads_ms.push(marks.0);
        requests_ms.push(marks.1);
    }
    browser.close().await;
    loads_ms.remove(0);
    requests_ms.remove(0);
    loads_ms.sort_by(f64::total_cmp);
    requests_ms.sort_by(f64::total_cmp);
    Ok(DashboardTimes {
        load_median_ms: loads_ms[loads_ms.len() / 2],
        load_max_ms: loads_ms[loads_ms.len() - 1],
        request_median_ms: requests_ms[requests_ms.len() / 2],
    })
}

/// `jobs` one-shot jobs that came due while no worker ran; seconds from a worker's start until all ran.
pub async fn drain(redis: &TestRedis, jobs: usize, concurrency: usize) -> anyhow::Result<f64> {
    let deployment = Deployment::start_api(redis, "drain").await?;
    let mut conn = redis.connection().await;
    let workflow = deployment.noop_workflow().await?;
    let overdue = Timestamp::now() - SignedDuration::from_secs(60);
    deployment.one_shots(&workflow, &vec![overdue; jobs]).await?;
    let started = Instant::now();
    deployment.start_worker(concurrency)?;
    deployment.wait_done(&mut conn, jobs).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// W4: a worker process takes a long job and is killed mid-run; another worker process starts. The seconds
/// from the kill until the job starts again, with reconciler passes an hour apart.
pub async fn rerun_after_kill(redis: &TestRedis, lease: Duration) -> anyhow::Result<f64> {
    let prefix = format!("w4-{}", lease.as_secs());
    let store = Store::new(redis.connection().await, &prefix, Arc::new(SystemClock));
    let workflow = store
        .create_workflow(serde_json::from_value(json!({"name": "long", "steps": [{"kind": "sleep", "seconds": 600}]}))?)
        .await?;
    let schedule = store
        .create_schedule(serde_json::from_value(
            json!({"workflow_id": workflow.id, "interval_seconds": 3600, "start_at": Timestamp::now()}),
        )?)
        .await?;
    let mut victim = WorkerProcess::spawn(redis, &prefix, "victim", lease)?;
    let attempt = |number: u32| {
        let store = store.clone();
        async move {
            let page = store.inspect().executions(schedule.id, 5, None).await?;
            anyhow::Ok(page.items.into_iter().find(|execution| execution.attempt == number))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while attempt(1).await?.is_none() {
        if Instant::now() > deadline {
            bail!("the first worker never started the job");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Mid-run, after at least one lease renewal.
    tokio::time::sleep(lease / 2).await;
    victim.kill_9();
    let killed_at = Timestamp::now();
    let _survivor = WorkerProcess::spawn(redis, &prefix, "survivor", lease)?;
    let deadline = Instant::now() + lease * 4 + Duration::from_secs(30);
    loop {
        if let Some(rerun) = attempt(2).await? {
            let started_at = rerun.started_at.context("a started attempt")?;
            return Ok(started_at.duration_since(killed_at).as_secs_f64());
        }
        if Instant::now() > deadline {
            bail!("the job did not run again within {:?} of the kill", lease * 4 + Duration::from_secs(30));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `recur-worker` process, killed on drop.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn spawn(redis: &TestRedis, prefix: &str, id: &str, lease: Duration) -> anyhow::Result<Self> {
        let binary = sibling_binary("recur-worker")?;
        let child = Command::new(&binary)
            .env("REDIS_URL", redis.url())
            .env("RECUR_PREFIX", prefix)
            .env("RECUR_WORKER_ID", id)
            .env("RECUR_LEASE_SECONDS", lease.as_secs().to_string())
            .env("RECUR_RECONCILE_SECONDS", "3600")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(Self(child))
    }

    fn kill_9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A binary built beside this one (`scripts/bench` builds them all).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!("{} is missing: build the workspace's binaries first (scripts/bench does)", path.display());
    }
    Ok(path)
}
