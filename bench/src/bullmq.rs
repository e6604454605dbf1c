//! The peer: BullMQ (with ioredis, pinned in `bench/bullmq/package-lock.json`) run by the system's Node on
//! the same private redis-server, one workload per `node bench.mjs` process.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde_json::Value;

/// Where `bench.mjs` and its `node_modules` live.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bullmq")
}

/// The installed BullMQ version, or why it cannot run.
pub fn version() -> anyhow::Result<String> {
    let manifest = std::fs::read_to_string(dir().join("node_modules/bullmq/package.json"))
        .context("BullMQ is not installed: run `npm ci` in bench/bullmq (scripts/bench does)")?;
    let manifest: Value = serde_json::from_str(&manifest)?;
    Ok(manifest["version"].as_str().unwrap_or("?").to_string())
}

/// Runs one workload to its end and returns the JSON line it printed last.
pub fn run(workload: &str, port: u16, options: &[(&str, String)]) -> anyhow::Result<Value> {
    let output = node(workload, port, options).output().context("cannot run node")?;
    if !output.status.success() {
        bail!("BullMQ {workload} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().context("BullMQ printed nothing")?;
    Ok(serde_json::from_str(last)?)
}

/// W4 for BullMQ: a worker takes the job and is killed mid-run; another starts. The seconds from the kill
/// until the job starts again.
pub fn rerun_after_kill(port: u16, lease: Duration) -> anyhow::Result<f64> {
    let queue = format!("w4-{}", std::process::id());
    let lock_ms = lease.as_millis().to_string();
    let options = [("queue", queue), ("lock-ms", lock_ms)];
    run("w4-enqueue", port, &options)?;
    let mut victim = node("w4-victim", port, &options).stdout(Stdio::piped()).spawn()?;
    let stdout = victim.stdout.take().context("victim's stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if !line.contains("active_at") {
        bail!("the BullMQ victim never took the job: {line}");
    }
    // Mid-run, after at least one lock renewal would have happened.
    std::thread::sleep(lease / 2);
    victim.kill()?;
    victim.wait()?;
    let killed_at = jiff::Timestamp::now().as_millisecond();
    let restarted = run("w4-survivor", port, &options)?;
    let restarted_at = restarted["restarted_at"].as_i64().context("restarted_at")?;
    Ok((restarted_at - killed_at) as f64 / 1000.0)
}

fn node(workload: &str, port: u16, options: &[(&str, String)]) -> Command {
    let mut command = Command::new("node");
    command.current_dir(dir()).arg("bench.mjs").arg(workload).arg("--port").arg(port.to_string());
    for (name, value) in options {
        command.arg(format!("--{name}"));
        if !value.is_empty() {
            command.arg(value);
        }
    }
    command.stderr(Stdio::piped());
    command
}
