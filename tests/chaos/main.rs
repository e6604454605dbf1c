//! `recur-chaos`: runs recur under crashes and checks that no run is lost and no schedule gets stuck.
//!
//! A private redis-server with AOF (`everysec`), `recur-api` and N workers (the binaries built next to this
//! one), a local HTTP target that counts hits per (schedule, repeat), and schedules firing every second.
//! Meanwhile it kills random workers with SIGKILL (and starts new ones), freezes one with SIGSTOP past its
//! lease, and kills Redis with SIGKILL and starts it again. Then it waits for every schedule to finish and
//! prints: pairs expected / hit / lost / duplicated, schedules stuck, and how long each fault took to heal.
//! Exits 1 if a pair was lost or a schedule is stuck. Duplicates are allowed (delivery is at least once)
//! and reported.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use axum::{Router, extract::Path, routing};
use clap::Parser;
use recur_common::testing::{TestRedis, free_port, poll_until};
use serde_json::{Value, json};

/// The run's shape. `--quick` is the test suite's (about a minute); the defaults are the long run.
#[derive(Parser, Debug)]
#[command(about = "Kill workers and Redis under load; check that no run is lost and no schedule stuck")]
struct Plan {
    /// About a minute: 100 schedules × 20 runs, 3 workers, kills every 3 s, one freeze, one Redis restart.
    #[arg(long)]
    quick: bool,
    /// Worker processes kept running.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Schedules, each firing every second.
    #[arg(long, default_value_t = 120)]
    schedules: usize,
    /// Minutes of chaos; each schedule runs once a second for that long.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Seconds between worker kills.
    #[arg(long, default_value_t = 4.0)]
    kill_every: f64,
    /// Redis kills (with restart) spread over the run.
    #[arg(long, default_value_t = 2)]
    redis_restarts: usize,
    /// Workers frozen (SIGSTOP) past their lease, spread over the run.
    #[arg(long, default_value_t = 3)]
    freezes: usize,
    /// Workers' lease, seconds.
    #[arg(long, default_value_t = 3)]
    lease_seconds: u64,
    /// Shards of the deployment (`RECUR_SHARDS`), all on the one Redis.
    #[arg(long, default_value_t = 1)]
    shards: usize,
}

impl Plan {
    fn resolved(mut self) -> Self {
        if self.quick {
            (self.workers, self.schedules, self.minutes, self.kill_every) = (3, 100, 20.0 / 60.0, 3.0);
            (self.redis_restarts, self.freezes, self.lease_seconds) = (1, 1, 2);
        }
        self
    }

    fn runs_per_schedule(&self) -> u64 {
        (self.minutes * 60.0).round().max(1.0) as u64
    }
}

/// Hits per (schedule id, repeat number), and when each schedule was hit, in order.
#[derive(Default)]
struct Hits {
    pairs: HashMap<(String, u64), u32>,
    times: HashMap<String, Vec<Instant>>,
}

type SharedHits = Arc<Mutex<Hits>>;

/// What one fault was and how long until every unfinished schedule ran again after it.
struct Fault {
    kind: &'static str,
    at: Instant,
    healed_after: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let plan = Plan::parse().resolved();
    let started = Instant::now();
    let runs = plan.runs_per_schedule();
    let redis = Arc::new(Mutex::new(TestRedis::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
    ])));
    let redis_url = redis.lock().map_err(|_| anyhow::anyhow!("redis lock"))?.url();
    let hits = SharedHits::default();
    let target_port = serve_target(hits.clone()).await?;
    let api_port = free_port();
    let api_env = vec![
        ("REDIS_URL", redis_url.clone()),
        ("RECUR_API_ADDR", format!("127.0.0.1:{api_port}")),
        ("RECUR_SHARDS", plan.shards.to_string()),
    ];
    let mut api = spawn("recur-api", &api_env)?;
    let base = format!("http://127.0.0.1:{api_port}/api/v1");
    let client = reqwest::Client::new();
    let up = poll_until(Duration::from_secs(20), || async {
        client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    if !up {
        bail!("recur-api did not come up within 20 s");
    }
    let worker_env = |n: usize| {
        vec![
            ("REDIS_URL", redis_url.clone()),
            ("RECUR_WORKER_ID", format!("chaos-{n}")),
            ("RECUR_LEASE_SECONDS", plan.lease_seconds.to_string()),
            ("RECUR_RECONCILE_SECONDS", "1".to_string()),
            ("RECUR_CONCURRENCY", "32".to_string()),
            ("RECUR_SHARDS", plan.shards.to_string()),
        ]
    };
    let mut spawned = 0;
    let mut workers: Vec<Child> = Vec::new();
    for _ in 0..plan.workers {
        spawned += 1;
        workers.push(spawn("recur-worker", &worker_env(spawned))?);
    }

    let url =
        format!("http://127.0.0.1:{target_port}/hit/{{{{ trigger.schedule_id }}}}/{{{{ trigger.repeat_number }}}}");
    let workflow = post_json(
        &client,
        &format!("{base}/workflows"),
        json!({"name": "chaos", "steps": [{"kind": "http", "method": "POST", "url": url}]}),
    )
    .await?;
    let start_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let items: Vec<Value> = (0..plan.schedules)
        .map(|_| json!({"workflow_id": workflow["id"], "interval_seconds": 1, "repeat_count": runs, "retry_max": 10, "start_at": start_at.to_string()}))
        .collect();
    let mut ids = Vec::new();
    for chunk in items.chunks(1_000) {
        let created = post_json(&client, &format!("{base}/schedules/batch"), json!({"items": chunk})).await?;
        let created = created["items"].as_array().context("batch answer")?;
        ids.extend(created.iter().filter_map(|schedule| schedule["id"].as_str().map(str::to_string)));
    }
    println!(
        "recur-chaos: {} schedules × {runs} runs, {} workers (lease {} s), for {:.1} min: kill -9 a worker every {} s, {} freezes, {} Redis restarts",
        ids.len(),
        plan.workers,
        plan.lease_seconds,
        plan.minutes,
        plan.kill_every,
        plan.freezes,
        plan.redis_restarts
    );

    // Faults, in time order: worker kills every `kill_every`, freezes and Redis restarts spread evenly.
    let chaos_for = Duration::from_secs_f64(plan.minutes * 60.0);
    let chaos_start = Instant::now() + Duration::from_secs(3);
    let mut schedule_of_faults: Vec<(Duration, &'static str)> = Vec::new();
    let mut t = plan.kill_every;
    while t < chaos_for.as_secs_f64() {
        schedule_of_faults.push((Duration::from_secs_f64(t), "worker kill -9"));
        t += plan.kill_every;
    }
    for n in 0..plan.freezes {
        schedule_of_faults
            .push((chaos_for.mul_f64((n as f64 + 0.3) / plan.freezes as f64), "worker SIGSTOP past its lease"));
    }
    for n in 0..plan.redis_restarts {
        schedule_of_faults
            .push((chaos_for.mul_f64((n as f64 + 0.6) / plan.redis_restarts as f64), "Redis kill -9 and restart"));
    }
    schedule_of_faults.sort_by_key(|(at, _)| *at);

    let mut faults = Vec::new();
    let mut random = Random::seeded();
    for (offset, kind) in schedule_of_faults {
        tokio::time::sleep_until((chaos_start + offset).into()).await;
        let at = Instant::now();
        match kind {
            "worker kill -9" => {
                let victim = random.below(workers.len());
                let _ = workers[victim].kill();
                let _ = workers[victim].wait();
                spawned += 1;
                workers[victim] = spawn("recur-worker", &worker_env(spawned))?;
            }
            "worker SIGSTOP past its lease" => {
                let victim = random.below(workers.len());
                let pid = workers[victim].id().to_string();
                signal("STOP", &pid)?;
                tokio::time::sleep(Duration::from_secs(plan.lease_seconds * 2 + 1)).await;
                signal("CONT", &pid)?;
            }
            _ => {
                let redis = redis.clone();
                tokio::task::spawn_blocking(move || {
                    let mut redis = redis.lock().map_err(|_| anyhow::anyhow!("redis lock"))?;
                    redis.kill();
                    std::thread::sleep(Duration::from_secs(1));
                    redis.restart();
                    anyhow::Ok(())
                })
                .await??;
            }
        }
        faults.push(Fault { kind, at, healed_after: None });
    }

    // Every schedule ends `done`; allow for the time faults cost.
    let deadline = Instant::now() + Duration::from_secs(runs.min(120) + 90);
    let mut stuck = ids.len();
    while Instant::now() < deadline {
        stuck = unfinished(&client, &base).await.unwrap_or(stuck);
        if stuck == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    let missing: Vec<(String, u64)> = {
        let hits = hits.lock().map_err(|_| anyhow::anyhow!("hits lock"))?;
        ids.iter()
            .flat_map(|id| (0..runs).map(move |repeat| (id.clone(), repeat)))
            .filter(|pair| !hits.pairs.contains_key(pair))
            .collect()
    };
    // What the history says of each lost pair, to tell a bug from an occurrence skipped on purpose.
    for (id, repeat) in missing.iter().take(5) {
        let history =
            client.get(format!("{base}/executions?schedule_id={id}&limit=100")).send().await?.json::<Value>().await?;
        let attempts: Vec<String> = history["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|execution| execution["job_id"].as_str().is_some_and(|job| job.contains(&format!("-n{repeat}-"))))
            .map(|execution| format!("{} {} {}", execution["id"], execution["state"], execution["error"]))
            .collect();
        println!("lost: schedule {id} repeat {repeat}: {attempts:?}");
    }
    let _ = api.kill();
    let _ = api.wait();

    let hits = hits.lock().map_err(|_| anyhow::anyhow!("hits lock"))?;
    heal_times(&mut faults, &hits);
    let expected = ids.len() as u64 * runs;
    let hit = ids
        .iter()
        .map(|id| (0..runs).filter(|repeat| hits.pairs.contains_key(&(id.clone(), *repeat))).count() as u64)
        .sum::<u64>();
    let duplicated = hits.pairs.values().filter(|count| **count > 1).count();
    let lost = expected - hit;
    println!("pairs expected {expected}, hit {hit}, lost {lost}, duplicated {duplicated}; schedules stuck {stuck}");
    for kind in ["worker kill -9", "worker SIGSTOP past its lease", "Redis kill -9 and restart"] {
        let mut healed: Vec<Duration> =
            faults.iter().filter(|f| f.kind == kind).filter_map(|f| f.healed_after).collect();
        let count = faults.iter().filter(|f| f.kind == kind).count();
        if count == 0 {
            continue;
        }
        healed.sort();
        let max = healed.last().map_or("never".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
        let median = healed.get(healed.len() / 2).map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
        println!(
            "{kind}: {count}, every unfinished schedule ran again within median {median}, max {max} ({} healed)",
            healed.len()
        );
    }
    println!("took {:.0} s", started.elapsed().as_secs_f64());
    if lost > 0 || stuck > 0 {
        bail!("{lost} pairs lost, {stuck} schedules stuck");
    }
    Ok(())
}

/// For each fault, how long until every schedule that still had runs to make then ran again: the latest
/// of their first hits after it.
fn heal_times(faults: &mut [Fault], hits: &Hits) {
    for fault in faults.iter_mut() {
        fault.healed_after = hits
            .times
            .values()
            .filter_map(|times| times.iter().find(|hit| **hit > fault.at))
            .map(|hit| hit.duration_since(fault.at))
            .max();
    }
}

/// Schedules not yet `done`, from the API.
async fn unfinished(client: &reqwest::Client, base: &str) -> anyhow::Result<usize> {
    let mut count = 0;
    for status in ["active", "paused", "dead"] {
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/schedules?status={status}&limit=500");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value = client.get(&url).send().await?.error_for_status()?.json().await?;
            count += page["items"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
    }
    Ok(count)
}

/// Serves `POST /hit/{schedule}/{repeat}`, counting each; returns the port.
async fn serve_target(hits: SharedHits) -> anyhow::Result<u16> {
    let router = Router::new().route(
        "/hit/{schedule}/{repeat}",
        routing::post(move |Path((schedule, repeat)): Path<(String, u64)>| {
            let hits = hits.clone();
            async move {
                if let Ok(mut hits) = hits.lock() {
                    *hits.pairs.entry((schedule.clone(), repeat)).or_default() += 1;
                    hits.times.entry(schedule).or_default().push(Instant::now());
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

/// A binary built next to this one, started with `env`, its output discarded (`CHAOS_LOG=1` shows it).
fn spawn(name: &str, env: &[(&str, String)]) -> anyhow::Result<Child> {
    let path = built(name)?;
    let output = || if std::env::var("CHAOS_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() };
    Command::new(&path)
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .env("RUST_LOG", if std::env::var("CHAOS_LOG").is_ok() { "info" } else { "error" })
        .stdout(output())
        .stderr(output())
        .spawn()
        .with_context(|| format!("cannot start {}", path.display()))
}

fn built(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("no directory")?.join(name);
    if !path.exists() {
        bail!("{} is missing: build the workspace's binaries first (scripts/chaos does)", path.display());
    }
    Ok(path)
}

fn signal(name: &str, pid: &str) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid).status()?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

async fn post_json(client: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("POST {url}: {status} {body}");
    }
    Ok(body)
}

/// A small xorshift generator: which worker a fault hits need not be cryptographic.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        Self((uuid::Uuid::new_v4().as_u128() as u64) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
