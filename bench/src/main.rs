//! Throughput, Redis commands per job, and start precision of one worker, on a private redis-server.
//!
//! Phase 1: 20,000 one-shot schedules of a one-`log`-step workflow, all due at the same instant, run by one
//! worker; prints jobs per second and Redis commands per job (from `INFO commandstats`, which counts the
//! commands scripts run as well as the calls themselves). Phase 2: schedules due at staggered times while the
//! worker is idle; prints how late each run started.
//!
//! `cargo run --release -p recur-bench -- --jobs 20000 --concurrency 16`

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{StreamExt, stream};
use jiff::{SignedDuration, Timestamp};
use recur_common::{
    clock::SystemClock,
    keys::Keys,
    model::{NewSchedule, ScheduleStatus},
    store::Store,
    testing::TestRedis,
};
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Jobs in the throughput phase.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// The worker's RECUR_CONCURRENCY.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Runs in the precision phase.
    #[arg(long, default_value_t = 50)]
    precision_runs: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis = TestRedis::start();
    let store = Store::new(redis.connection().await, "recur", Arc::new(SystemClock));
    let mut conn = redis.connection().await;
    let keys = Keys::new("recur");
    let version: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await?;
    let version = version.lines().find_map(|line| line.strip_prefix("redis_version:")).unwrap_or("?").to_string();
    println!("recur bench: one worker, concurrency {}, private redis-server {version}", args.concurrency);

    let shutdown = CancellationToken::new();
    let mut settings = recur_worker::Settings::from_env()?;
    settings.redis = redis.settings();
    settings.concurrency = args.concurrency;
    settings.reconcile_every = Duration::from_secs(3600);
    settings.worker_id = "bench".to_string();
    let worker = tokio::spawn(recur_worker::run(settings, recur_worker::Handlers::default(), shutdown.clone()));

    let workflow = store
        .create_workflow(serde_json::from_value(
            serde_json::json!({"name": "noop", "steps": [{"kind": "log", "message": "noop"}]}),
        )?)
        .await?;

    // Phase 1: every job due at one instant, after all are created and the counters are reset.
    let due = Timestamp::now() + SignedDuration::from_secs(5 + i64::try_from(args.jobs / 2_000).unwrap_or(60));
    let memory_before = used_memory(&mut conn).await?;
    let created = Instant::now();
    create_schedules(&store, workflow.id, std::iter::repeat_n(due, args.jobs)).await?;
    let memory_per_schedule = used_memory(&mut conn).await?.saturating_sub(memory_before) / args.jobs as u64;
    if Timestamp::now() >= due {
        bail!(
            "creating {} schedules took {:?}, past their due time; rerun with fewer jobs",
            args.jobs,
            created.elapsed()
        );
    }
    println!(
        "created {} schedules in {:.2} s; Redis memory {memory_per_schedule} bytes per schedule with its pending job",
        args.jobs,
        created.elapsed().as_secs_f64()
    );
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut conn).await?;
    let done_key = keys.schedules_by_status(ScheduleStatus::Done);
    let mut polls = 0u64;
    tokio::time::sleep(Duration::try_from(due.duration_since(Timestamp::now())).unwrap_or_default()).await;
    let started = Instant::now();
    loop {
        polls += 1;
        let done: usize = conn.zcard(&done_key).await?;
        if done >= args.jobs {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {done} of {} jobs done after 10 minutes", args.jobs);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = command_stats(&mut conn).await?;
    let jobs = args.jobs as f64;
    // The bench's own ZCARD polls and the INFO call are not the worker's.
    let total: u64 = stats.values().sum::<u64>() - polls - 1;
    println!("\nphase 1: {} due no-op jobs", args.jobs);
    println!("  elapsed          {elapsed:.2} s (from the due time until the last schedule was done)");
    println!("  throughput       {:.0} jobs/s", jobs / elapsed);
    println!(
        "  redis commands   {:.1} per job ({total} in all, script calls and the commands they ran)",
        total as f64 / jobs
    );
    let round_trips = stats.get("evalsha").copied().unwrap_or(0) + stats.get("get").copied().unwrap_or(0);
    println!("  round trips      {:.2} per job (script calls and workflow reads)", round_trips as f64 / jobs);
    println!("  by command (per job):");
    let mut by_count: Vec<(&String, &u64)> = stats.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    for (command, calls) in by_count {
        let calls = if command == "zcard" {
            calls - polls
        } else if command == "info" {
            calls - 1
        } else {
            *calls
        };
        if calls > 0 {
            println!("    {command:<18} {:>6.2}", calls as f64 / jobs);
        }
    }

    // Phase 2: one due time every 37 ms while the worker is otherwise idle.
    let first = Timestamp::now() + SignedDuration::from_secs(3);
    let dues: Vec<Timestamp> = (0..args.precision_runs)
        .map(|i| first + SignedDuration::from_millis(37 * i64::try_from(i).unwrap_or(0)))
        .collect();
    let ids = create_schedules(&store, workflow.id, dues.into_iter()).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lateness_ms = Vec::new();
    for id in ids {
        loop {
            let page = store.inspect().executions(id, 1, None).await?;
            if let Some(execution) = page.items.first().filter(|e| e.finished_at.is_some()) {
                lateness_ms.push(execution.started_at.duration_since(execution.scheduled_for).as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                bail!("precision runs did not finish within a minute");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    lateness_ms.sort_by(f64::total_cmp);
    let at = |q: f64| lateness_ms[((lateness_ms.len() - 1) as f64 * q).round() as usize];
    println!("\nphase 2: {} runs due 37 ms apart, idle worker", args.precision_runs);
    println!("  start lateness   median {:.1} ms, p90 {:.1} ms, max {:.1} ms", at(0.5), at(0.9), at(1.0));

    shutdown.cancel();
    worker.await?.context("worker")?;
    Ok(())
}

/// Creates one single-run schedule per due time, 64 at a time; returns their ids.
async fn create_schedules(
    store: &Store,
    workflow_id: uuid::Uuid,
    dues: impl Iterator<Item = Timestamp>,
) -> anyhow::Result<Vec<uuid::Uuid>> {
    let bodies: Vec<NewSchedule> = dues
        .map(|due| {
            serde_json::from_value(serde_json::json!({
                "workflow_id": workflow_id, "interval_seconds": 3600, "repeat_count": 1, "start_at": due,
            }))
        })
        .collect::<Result<_, _>>()?;
    let created: Vec<_> = stream::iter(bodies).map(|body| store.create_schedule(body)).buffered(64).collect().await;
    created.into_iter().map(|schedule| Ok(schedule?.id)).collect()
}

/// `used_memory` from `INFO memory`, in bytes.
async fn used_memory(conn: &mut redis::aio::ConnectionManager) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    let used =
        info.lines().find_map(|line| line.strip_prefix("used_memory:")).context("INFO memory has no used_memory")?;
    Ok(used.trim().parse()?)
}

/// `INFO commandstats` as command → calls.
async fn command_stats(conn: &mut redis::aio::ConnectionManager) -> anyhow::Result<BTreeMap<String, u64>> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await?;
    Ok(info
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| {
            let (command, rest) = line.split_once(':')?;
            let calls = rest.split(',').find_map(|field| field.strip_prefix("calls="))?;
            Some((command.to_string(), calls.parse().ok()?))
        })
        .collect())
}
