//! What Redis says about itself: memory, command counts, version.

use std::collections::BTreeMap;

use anyhow::Context as _;
use recur_common::connection::{RedisConnection, info_field};

/// The bytes the keys matching `pattern` hold, summed from `MEMORY USAGE ... SAMPLES 0` (every element
/// counted, the key and its entry in the keyspace included). A workload's bytes are the difference of two
/// such sums: unlike `used_memory`, they leave out what Redis holds for its clients, which moves by hundreds
/// of kilobytes when an earlier workload's connections close.
pub async fn key_bytes(conn: &mut RedisConnection, pattern: &str) -> anyhow::Result<u64> {
    let mut cursor = 0u64;
    let mut bytes = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1_000).query_async(conn).await?;
        if !keys.is_empty() {
            let mut usage = redis::pipe();
            for key in &keys {
                usage.cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0);
            }
            // A key deleted between SCAN and MEMORY USAGE answers nil.
            let sizes: Vec<Option<u64>> = usage.query_async(conn).await?;
            bytes += sizes.into_iter().flatten().sum::<u64>();
        }
        if next == 0 {
            return Ok(bytes);
        }
        cursor = next;
    }
}

/// The server's version.
pub async fn version(conn: &mut RedisConnection) -> anyhow::Result<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(info_field(&info, "redis_version").unwrap_or("?").to_string())
}

/// Zeroes the command counters.
pub async fn reset(conn: &mut RedisConnection) -> anyhow::Result<()> {
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(conn).await?;
    Ok(())
}

/// `INFO commandstats` as command → calls, which counts the commands scripts run as well as the calls.
pub async fn command_stats(conn: &mut RedisConnection) -> anyhow::Result<BTreeMap<String, u64>> {
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

/// CPU seconds the server has used (user + system), from `INFO cpu`.
pub async fn redis_cpu_seconds(conn: &mut RedisConnection) -> anyhow::Result<f64> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await?;
    let field = |name| -> anyhow::Result<f64> {
        Ok(info_field(&info, name).with_context(|| format!("INFO cpu has no {name}"))?.parse()?)
    };
    Ok(field("used_cpu_user")? + field("used_cpu_sys")?)
}

/// CPU seconds this process has used (user + system, every thread), from `/proc/self/stat`.
pub fn own_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(") ").context("unexpected /proc/self/stat")?.1;
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks = |index: usize| -> anyhow::Result<f64> {
        Ok(fields.get(index).context("unexpected /proc/self/stat")?.parse::<f64>()?)
    };
    // utime and stime (fields 14 and 15 of the whole line), in USER_HZ ticks: 100 a second on Linux.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Commands Redis ran since the counters were reset, inside scripts included, less the bench's own `INFO`
/// and `CONFIG RESETSTAT`.
pub async fn commands_since_reset(conn: &mut RedisConnection) -> anyhow::Result<u64> {
    let calls = command_stats(conn).await?;
    Ok(calls
        .iter()
        .filter(|(command, _)| !matches!(command.as_str(), "info" | "config|resetstat"))
        .map(|(_, n)| n)
        .sum())
}

/// The value at quantile `q` of sorted `values`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Redis's own ceiling for jobs that cost `commands` commands each, were each job one script call: calls per
/// second of a script running that many HSETs, by `redis-benchmark` with 16 clients on the server at `port`.
pub fn script_ceiling(port: u16, commands: usize) -> anyhow::Result<f64> {
    let script = "for i = 1, tonumber(ARGV[1]) do redis.call('HSET', KEYS[1], i, i) end return 1";
    let output = std::process::Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-c", "16", "-n", "50000", "-q", "EVAL", script, "1", "bench:ceiling"])
        .arg(commands.to_string())
        .output()
        .context("run redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // `-q` prints progress lines separated by carriage returns, then "...: 48780.49 requests per second, ...".
    let last = text.rsplit('\r').next().unwrap_or_default();
    let (before, _) = last.split_once(" requests per second").context("redis-benchmark printed no rate")?;
    let rate = before.rsplit(": ").next().context("redis-benchmark printed no rate")?;
    Ok(rate.trim().parse()?)
}
