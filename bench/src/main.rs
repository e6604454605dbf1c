//! recur beside BullMQ on one private redis-server, in one run: the same workloads, both figures and their
//! ratio. Absolute figures on a shared machine move from hour to hour; the ratios, taken minutes apart on
//! the same Redis, far less.
//!
//! - W1: `--jobs` no-op one-shot jobs all due at one instant, one worker with `--concurrency`: enqueue rate
//!   (recur: runs with a `run_at` through `POST /workflows/{id}/runs`; BullMQ: `addBulk` with a delay; both
//!   1,000 jobs a request), processing rate, Redis commands
//!   per job (`INFO commandstats`, which counts the commands scripts run too), script calls and reads per
//!   job, bytes per queued job.
//!   BullMQ runs twice: keeping its completed jobs (as recur keeps history) and removing them.
//! - W1a: the same number of no-op ad-hoc runs, due now, queued while no worker runs (recur:
//!   `POST /workflows/{id}/runs`; BullMQ: `addBulk` without delay), then drained by one starting worker.
//! - W2: `--precision-runs` one-shot jobs (recur: runs with a `run_at`; BullMQ: delayed jobs) due spread over
//!   `--spread-seconds`: start lateness and early starts.
//! - W3: `--recurring` schedules every second for `--recurring-seconds` (BullMQ: job schedulers with `every`):
//!   fires, duplicates, misses, start lateness; Redis's CPU per fire, and for a second's fires (which bounds
//!   the lateness of the last ones: Redis does one fire's work after another); and bytes per idle schedule.
//! - W4: a worker killed mid-job (`kill -9`); seconds until another worker starts the job again, for each
//!   lease in `--leases` (BullMQ: `lockDuration` and `stalledInterval` set to the lease).
//! - recur alone on a local Redis Cluster of `--cluster-primaries` primaries, with the deployment in one shard
//!   and in `--cluster-shards` shards: W1a's processing rate beside one node's, commands per job, each
//!   primary's share of them, how evenly the jobs spread over the shards, and W2's start lateness.
//! - recur alone at scale: `--scale-schedules` idle schedules created through the bulk endpoint (rate, Redis
//!   memory per schedule, one reconciler pass), and `--overdue` jobs that came due while no worker ran
//!   (time for a starting worker to drain them).
//! - The dashboard: its schedule list over `--dashboard-schedules` schedules, loaded in headless Chromium
//!   (page load to the first 50 shown, and the listing request to its table, by the page's own marks).
//!
//! Bytes are those the workload's keys hold (`MEMORY USAGE` summed over the deployment's keys, BullMQ's over its
//! queue's), after less before: what Redis holds for its clients is left out on both sides.
//!
//! `scripts/bench` builds everything, installs BullMQ from `bench/bullmq/package-lock.json` and runs this.

mod bullmq;
mod recur;
mod stats;

use std::time::Duration;

use clap::Parser;
use recur_common::testing::{TestCluster, TestRedis};
use serde_json::Value;

// glibc's malloc was a third of the worker's CPU per job (many small, short-lived allocations across
// threads); mimalloc serves them from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Jobs in W1.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Jobs each worker runs at once, for both systems.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Jobs in W2.
    #[arg(long, default_value_t = 2_000)]
    precision_runs: usize,
    /// Seconds W2's due times are spread over.
    #[arg(long, default_value_t = 10)]
    spread_seconds: u64,
    /// Schedules firing every second in W3.
    #[arg(long, default_value_t = 500)]
    recurring: usize,
    /// Seconds W3 runs (each schedule fires this many times).
    #[arg(long, default_value_t = 20)]
    recurring_seconds: u64,
    /// Leases (seconds) W4 is run with.
    #[arg(long, value_delimiter = ',', default_value = "5,30")]
    leases: Vec<u64>,
    /// Idle schedules recur alone is measured with (0 leaves it out).
    #[arg(long, default_value_t = 1_000_000)]
    scale_schedules: usize,
    /// Overdue jobs a starting worker drains, recur alone (0 leaves it out).
    #[arg(long, default_value_t = 100_000)]
    overdue: usize,
    /// Schedules the dashboard's list is timed over, recur alone (0 leaves it out).
    #[arg(long, default_value_t = 10_000)]
    dashboard_schedules: usize,
    /// Primaries of the local Redis Cluster W1a is run on as well, recur alone (0 leaves it out).
    #[arg(long, default_value_t = 3)]
    cluster_primaries: usize,
    /// Shards (`RECUR_SHARDS`) of the deployment W1a and W2 run on the cluster with, beside one shard.
    #[arg(long, default_value_t = 6)]
    cluster_shards: usize,
    /// Leave BullMQ out (recur's figures only).
    #[arg(long)]
    recur_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis = TestRedis::start();
    let port: u16 = redis.url().rsplit(':').next().unwrap_or_default().parse()?;
    let mut conn = redis.connection().await;
    let peer = if args.recur_only { None } else { Some(bullmq::version()?) };
    println!("# recur beside BullMQ, one run on one private Redis");
    println!();
    println!(
        "{}; {} cores; redis-server {}; recur {}; BullMQ {} (ioredis, Node {}); one worker process each, \
         concurrency {}.",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, usize::from),
        stats::version(&mut conn).await?,
        env!("CARGO_PKG_VERSION"),
        peer.as_deref().unwrap_or("not run"),
        node_version(),
        args.concurrency
    );
    println!();
    println!("| figure | recur | BullMQ | ratio (over 1: recur better) |");
    println!("| --- | --- | --- | --- |");

    let jobs = args.jobs.to_string();
    let concurrency = args.concurrency.to_string();
    let w1 = recur::throughput(&redis, args.jobs, args.concurrency).await?;
    let w1_peer = match peer {
        Some(_) => Some(bullmq_w1(port, &[("jobs", jobs.clone()), ("concurrency", concurrency.clone())])?),
        None => None,
    };
    let w1_name = format!("W1 {} due no-op jobs", args.jobs);
    throughput_rows("W1", &w1_name, "POST /workflows/{id}/runs with run_at", &w1, w1_peer.as_ref());

    let w1a = recur::ad_hoc_throughput(&redis, args.jobs, args.concurrency).await?;
    let w1a_peer = match peer {
        Some(_) => Some(bullmq_w1(
            port,
            &[("jobs", jobs.clone()), ("concurrency", concurrency.clone()), ("due-now", String::new())],
        )?),
        None => None,
    };
    let w1a_name = format!("W1a {} no-op jobs due now, queued before the worker starts", args.jobs);
    throughput_rows("W1a", &w1a_name, "POST /workflows/{id}/runs", &w1a, w1a_peer.as_ref());
    let peer_figure = |result: &Option<Value>, name: &str| result.as_ref().and_then(|r| r[name].as_f64());
    ceiling_rows(port, &w1, w1_peer.as_ref().map(|(kept, _)| kept))?;

    let spread = Duration::from_secs(args.spread_seconds);
    let w2 = recur::lateness(&redis, args.precision_runs, spread, args.concurrency, 1).await?;
    let w2_peer = match peer {
        Some(_) => Some(bullmq::run(
            "w2",
            port,
            &[
                ("jobs", args.precision_runs.to_string()),
                ("spread-ms", spread.as_millis().to_string()),
                ("concurrency", concurrency.clone()),
            ],
        )?),
        None => None,
    };
    let w2_jobs = format!("W2 {} one-shot jobs over {} s", args.precision_runs, args.spread_seconds);
    row(
        &format!("{w2_jobs}: start lateness p50, ms"),
        w2.p50_ms,
        peer_figure(&w2_peer, "lateness_p50_ms"),
        Better::Lower,
        1,
    );
    row(
        &format!("{w2_jobs}: start lateness p99, ms"),
        w2.p99_ms,
        peer_figure(&w2_peer, "lateness_p99_ms"),
        Better::Lower,
        1,
    );
    row(
        &format!("{w2_jobs}: start lateness max, ms"),
        w2.max_ms,
        peer_figure(&w2_peer, "lateness_max_ms"),
        Better::Lower,
        1,
    );
    row(
        &format!("{w2_jobs}: early starts"),
        w2.early_starts as f64,
        peer_figure(&w2_peer, "early_starts"),
        Better::Lower,
        0,
    );

    let w3 = recur::recurring(&redis, args.recurring, args.recurring_seconds, args.concurrency).await?;
    let w3_peer = match peer {
        Some(_) => Some(bullmq::run(
            "w3",
            port,
            &[
                ("jobs", args.recurring.to_string()),
                ("repeats", args.recurring_seconds.to_string()),
                ("concurrency", concurrency.clone()),
            ],
        )?),
        None => None,
    };
    let w3_name = format!("W3 {} schedules every second for {} s", args.recurring, args.recurring_seconds);
    row(&format!("{w3_name}: fires"), w3.fires as f64, peer_figure(&w3_peer, "fires"), Better::Higher, 0);
    row(&format!("{w3_name}: duplicates"), w3.duplicates as f64, peer_figure(&w3_peer, "duplicates"), Better::Lower, 0);
    row(&format!("{w3_name}: misses"), w3.misses as f64, peer_figure(&w3_peer, "misses"), Better::Lower, 0);
    row(
        &format!("{w3_name}: start lateness p50, ms"),
        w3.p50_ms,
        peer_figure(&w3_peer, "lateness_p50_ms"),
        Better::Lower,
        1,
    );
    row(
        &format!("{w3_name}: start lateness p99, ms"),
        w3.p99_ms,
        peer_figure(&w3_peer, "lateness_p99_ms"),
        Better::Lower,
        1,
    );
    // Why the p99 is not lower: a worker records the fires that ended as it starts the next (its claims carry
    // their ends), so a second's last fires start once Redis has done the work of the fires before them.
    row(&format!("{w3_name}: Redis CPU per fire, µs"), w3.redis_cpu_per_fire_us, None, Better::Lower, 1);
    row(
        &format!(
            "{w3_name}: Redis CPU for one second's fires, ms (the last fire's lateness, Redis doing them in turn)"
        ),
        w3.redis_cpu_per_fire_us * args.recurring as f64 / 1000.0,
        None,
        Better::Lower,
        1,
    );
    row(
        "W3 bytes per idle recurring schedule, with its pending job",
        w3.bytes_per_idle_schedule,
        peer_figure(&w3_peer, "bytes_per_idle_schedule"),
        Better::Lower,
        0,
    );

    for lease_seconds in &args.leases {
        let lease = Duration::from_secs(*lease_seconds);
        let rerun = recur::rerun_after_kill(&redis, lease).await?;
        let peer_rerun = match peer {
            Some(_) => Some(bullmq::rerun_after_kill(port, lease)?),
            None => None,
        };
        row(
            &format!("W4 seconds until a job runs again after kill -9 of its worker, lease {lease_seconds} s"),
            rerun,
            peer_rerun,
            Better::Lower,
            1,
        );
    }

    if args.cluster_primaries > 0 {
        let cluster = TestCluster::start(args.cluster_primaries, 0);
        let one_slot = recur::cluster_throughput(&cluster, args.jobs, args.concurrency, 1).await?;
        let sharded = recur::cluster_throughput(&cluster, args.jobs, args.concurrency, args.cluster_shards).await?;
        let one_slot_w2 = recur::lateness(&cluster, args.precision_runs, spread, args.concurrency, 1).await?;
        let sharded_w2 =
            recur::lateness(&cluster, args.precision_runs, spread, args.concurrency, args.cluster_shards).await?;
        let primaries = args.cluster_primaries;
        for (name, on_cluster, w2_on_cluster) in [
            (
                format!("recur alone, on a local Redis Cluster of {primaries} primaries, one shard"),
                &one_slot,
                &one_slot_w2,
            ),
            (
                format!(
                    "recur alone, on the same cluster, {} shards (per primary: {})",
                    args.cluster_shards,
                    sharded.shards_per_primary.iter().map(ToString::to_string).collect::<Vec<_>>().join("/")
                ),
                &sharded,
                &sharded_w2,
            ),
        ] {
            row(&format!("{name}: W1a processing jobs/s"), on_cluster.jobs_per_second, None, Better::Higher, 0);
            row(
                &format!("{name}: W1a as a share of its rate on one node"),
                on_cluster.jobs_per_second / w1a.jobs_per_second,
                None,
                Better::Higher,
                2,
            );
            let commands = on_cluster.commands_per_job;
            row(&format!("{name}: W1a Redis commands per job processed"), commands, None, Better::Lower, 1);
            let shares =
                on_cluster.shares.iter().map(|share| format!("{:.0}", share * 100.0)).collect::<Vec<_>>().join("/");
            let busiest = on_cluster.shares.first().copied().unwrap_or(0.0) * 100.0;
            row(
                &format!("{name}: W1a share of those commands on the busiest primary, % (each primary: {shares})"),
                busiest,
                None,
                Better::Lower,
                0,
            );
            row(&format!("{name}: W2 start lateness p50, ms"), w2_on_cluster.p50_ms, None, Better::Lower, 1);
            row(&format!("{name}: W2 start lateness p99, ms"), w2_on_cluster.p99_ms, None, Better::Lower, 1);
        }
        row(
            &format!(
                "recur alone, W1a in {} shards: the largest difference of a shard's jobs (hence commands) from \
                 the mean, %",
                args.cluster_shards
            ),
            sharded.shard_deviation * 100.0,
            None,
            Better::Lower,
            1,
        );
    }
    if args.overdue > 0 {
        let seconds = recur::drain(&redis, args.overdue, args.concurrency).await?;
        let rate = args.overdue as f64 / seconds;
        row(
            &format!("recur alone: seconds to drain {} jobs that came due while no worker ran", args.overdue),
            seconds,
            None,
            Better::Lower,
            1,
        );
        row("recur alone: jobs/s while draining", rate, None, Better::Higher, 0);
    }
    if args.scale_schedules > 0 {
        let scale = recur::scale(&redis, args.scale_schedules).await?;
        let name = format!("recur alone, {} idle schedules", args.scale_schedules);
        row(
            &format!("{name}: created per second through POST /schedules/batch"),
            scale.create_per_second,
            None,
            Better::Higher,
            0,
        );
        row(
            &format!("{name}: Redis bytes per schedule, with its pending job"),
            scale.bytes_per_schedule,
            None,
            Better::Lower,
            0,
        );
        row(
            &format!("{name}: one reconciler pass, ms (it reads at most 1,000 schedules)"),
            scale.reconcile_pass_ms,
            None,
            Better::Lower,
            0,
        );
    }

    if args.dashboard_schedules > 0 {
        let times = recur::dashboard(&redis, args.dashboard_schedules, 9).await?;
        let name = format!("recur alone, dashboard over {} schedules", args.dashboard_schedules);
        row(
            &format!("{name}: a page of 50 shown, ms from the page load (median of 9)"),
            times.load_median_ms,
            None,
            Better::Lower,
            0,
        );
        row(&format!("{name}: the same, slowest of 9, ms"), times.load_max_ms, None, Better::Lower, 0);
        row(
            &format!("{name}: from the listing request to its table, ms (median)"),
            times.request_median_ms,
            None,
            Better::Lower,
            0,
        );
    }

    for (name, measured) in [("W1", &w1), ("W1a", &w1a)] {
        println!();
        println!("recur's Redis commands per job in {name}, by command:");
        let mut by_count: Vec<(&String, &f64)> = measured.by_command.iter().collect();
        by_count.sort_by(|a, b| b.1.total_cmp(a.1));
        for (command, per_job) in by_count.into_iter().filter(|(_, per_job)| **per_job >= 0.005) {
            println!("  {command:<18} {per_job:>6.2}");
        }
    }
    Ok(())
}

/// BullMQ's W1 with `options`, twice: keeping its completed jobs (as recur keeps history) and removing them.
fn bullmq_w1(port: u16, options: &[(&str, String)]) -> anyhow::Result<(Value, Value)> {
    let kept = bullmq::run("w1", port, options)?;
    let mut removing = options.to_vec();
    removing.push(("remove-on-complete", String::new()));
    Ok((kept, bullmq::run("w1", port, &removing)?))
}

/// The rows of one W1 variant `label` (`name` in the first rows), recur enqueueing through `endpoint`, beside
/// BullMQ keeping and removing its completed jobs.
fn throughput_rows(label: &str, name: &str, endpoint: &str, recur: &recur::Throughput, peer: Option<&(Value, Value)>) {
    let kept = |figure: &str| peer.and_then(|(kept, _)| kept[figure].as_f64());
    let removed = |figure: &str| peer.and_then(|(_, removed)| removed[figure].as_f64());
    let enqueue = format!("{name}: enqueue jobs/s (recur: {endpoint}; BullMQ: addBulk), 1,000 a request");
    row(&enqueue, recur.enqueue_per_second, kept("enqueue_per_second"), Better::Higher, 0);
    let processing = format!("{name}: processing jobs/s, BullMQ keeping completed jobs");
    row(&processing, recur.jobs_per_second, kept("jobs_per_second"), Better::Higher, 0);
    let processing = format!("{name}: processing jobs/s, BullMQ removing completed jobs");
    row(&processing, recur.jobs_per_second, removed("jobs_per_second"), Better::Higher, 0);
    let commands = format!("{label} Redis commands per job enqueued, inside scripts included");
    row(&commands, recur.enqueue_commands_per_job, kept("enqueue_commands_per_job"), Better::Lower, 1);
    let commands = format!("{label} Redis commands per job processed, inside scripts included");
    row(&commands, recur.commands_per_job, kept("commands_per_job"), Better::Lower, 1);
    let calls = format!("{label} script calls and plain reads per job (recur: EVALSHA + GET; BullMQ: EVALSHA)");
    row(&calls, recur.round_trips_per_job, kept("script_calls_per_job"), Better::Lower, 2);
    row(
        &format!("{label} bytes per queued job"),
        recur.bytes_per_queued_job,
        kept("bytes_per_queued_job"),
        Better::Lower,
        0,
    );
    // On two cores the processing rate is bounded by the CPU both processes spend per job.
    row(&format!("{label} CPU ms per 1,000 jobs: Redis"), recur.redis_cpu_ms, kept("redis_cpu_ms"), Better::Lower, 0);
    let worker = format!("{label} CPU ms per 1,000 jobs: the worker process (recur: Rust; BullMQ: Node)");
    row(&worker, recur.worker_cpu_ms, kept("worker_cpu_ms"), Better::Lower, 0);
}

/// Why W1's processing rate is what it is on this machine: the rate the CPU both processes spend per job allows
/// on all cores, and the rate Redis alone allows for jobs of that many commands (each one script call).
fn ceiling_rows(port: u16, recur: &recur::Throughput, peer: Option<&Value>) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    // CPU ms per 1,000 jobs, Redis and worker together: jobs/s if they had every core to themselves.
    let cpu_bound = |redis_ms: f64, worker_ms: f64| cores * 1_000_000.0 / (redis_ms + worker_ms);
    let peer_cpu = peer.and_then(|p| Some(cpu_bound(p["redis_cpu_ms"].as_f64()?, p["worker_cpu_ms"].as_f64()?)));
    row(
        &format!("W1 ceiling: jobs/s {cores} cores allow at the CPU each spends per job (Redis + worker)"),
        cpu_bound(recur.redis_cpu_ms, recur.worker_cpu_ms),
        peer_cpu,
        Better::Higher,
        0,
    );
    let commands = |per_job: f64| per_job.round().max(1.0) as usize;
    let peer_commands = peer.and_then(|p| p["commands_per_job"].as_f64());
    let peer_ceiling = peer_commands.map(|c| stats::script_ceiling(port, commands(c))).transpose()?;
    row(
        "W1 ceiling: jobs/s Redis alone allows at each one's commands per job (redis-benchmark: one script of \
         that many HSETs per job, 16 clients)",
        stats::script_ceiling(port, commands(recur.commands_per_job))?,
        peer_ceiling,
        Better::Higher,
        0,
    );
    Ok(())
}

/// Which way a figure is better, so the ratio reads the same way for every row.
enum Better {
    Higher,
    Lower,
}

/// One table row: recur's figure, the peer's, and how many times better recur's is (over 1: recur wins),
/// whichever way the figure is better.
fn row(figure: &str, recur: f64, peer: Option<f64>, better: Better, decimals: usize) {
    let peer_text = peer.map_or_else(|| "–".to_string(), |value| format!("{value:.decimals$}"));
    let ratio = peer.map_or_else(
        || "–".to_string(),
        |peer| match better {
            _ if peer == 0.0 || recur == 0.0 => "–".to_string(),
            Better::Higher => format!("{:.2}", recur / peer),
            Better::Lower => format!("{:.2}", peer / recur),
        },
    );
    println!("| {figure} | {recur:.decimals$} | {peer_text} | {ratio} |");
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_else(|| "?".to_string())
}
