//! What Redis says about itself: memory, command counts, version.

use std::collections::BTreeMap;

use anyhow::Context as _;
use redis::aio::ConnectionManager;

/// `used_memory` from `INFO memory`, in bytes.
pub async fn used_memory(conn: &mut ConnectionManager) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    let used = info_field(&info, "used_memory").context("INFO memory has no used_memory")?;
    Ok(used.parse()?)
}

/// The server's version.
pub async fn version(conn: &mut ConnectionManager) -> anyhow::Result<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(info_field(&info, "redis_version").unwrap_or("?").to_string())
}

/// Zeroes the command counters.
pub async fn reset(conn: &mut ConnectionManager) -> anyhow::Result<()> {
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(conn).await?;
    Ok(())
}

/// `INFO commandstats` as command → calls, which counts the commands scripts run as well as the calls.
pub async fn command_stats(conn: &mut ConnectionManager) -> anyhow::Result<BTreeMap<String, u64>> {
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

fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// The value at quantile `q` of sorted `values`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
