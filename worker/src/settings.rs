use std::time::Duration;

use crate::egress::EgressPolicy;
use recur_common::{
    config::{
        ConfigError, RedisSettings, SHARED_SETTINGS, Setting, WORKER_SETTINGS, env_or, env_within, retention_from_env,
    },
    model::QueueName,
    store::Retention,
};

/// Everything a worker is configured with; read from `RECUR_*` variables by [`Settings::from_env`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub redis: RedisSettings,
    /// Queues to consume, in priority order.
    pub queues: Vec<QueueName>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claimed job stays owned without renewal.
    pub lease: Duration,
    /// How often the reconciler runs.
    pub reconcile_every: Duration,
    /// How long running jobs may take to finish after a shutdown signal before they are handed back.
    pub shutdown_grace: Duration,
    /// This worker's name in executions, heartbeats and logs.
    pub worker_id: String,
    /// Executions kept per schedule, and for how long.
    pub retention: Retention,
    /// Which addresses http steps may reach.
    pub egress: EgressPolicy,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (`RECUR_METRICS_ADDR`); none when empty.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where to POST alerts (`RECUR_ALERT_WEBHOOK`); none when empty.
    pub alert_webhook: Option<String>,
    /// How long a job may wait for a worker offering a handler it needs before an alert is raised.
    pub handler_wait_alert: Duration,
}

impl Settings {
    /// Every setting recur-worker reads.
    pub fn all() -> Vec<Setting> {
        [SHARED_SETTINGS, WORKER_SETTINGS].concat()
    }

    /// Reads the environment; the error names the variable that failed.
    pub fn from_env() -> Result<Self, ConfigError> {
        let queues: String = env_or("RECUR_QUEUES", "default".to_string())?;
        let queues = queues
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                QueueName::parse(name).map_err(|error| ConfigError {
                    name: "RECUR_QUEUES",
                    value: queues.clone(),
                    reason: error.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        const DAY_SECONDS: u64 = 86_400;
        Ok(Self {
            redis: RedisSettings::from_env()?,
            queues: if queues.is_empty() { vec![QueueName::default()] } else { queues },
            concurrency: env_within("RECUR_CONCURRENCY", 16, 1..=10_000)?,
            lease: Duration::from_secs(env_within("RECUR_LEASE_SECONDS", 30, 1..=DAY_SECONDS)?),
            reconcile_every: Duration::from_secs(env_within("RECUR_RECONCILE_SECONDS", 30, 1..=DAY_SECONDS)?),
            shutdown_grace: Duration::from_secs(env_within("RECUR_SHUTDOWN_GRACE_SECONDS", 25, 0..=DAY_SECONDS)?),
            worker_id: env_or("RECUR_WORKER_ID", default_worker_id())?,
            retention: retention_from_env()?,
            egress: EgressPolicy::from_env()?,
            metrics_addr: metrics_addr_from_env()?,
            alert_webhook: alert_webhook_from_env()?,
            handler_wait_alert: Duration::from_secs(env_within(
                "RECUR_HANDLER_WAIT_ALERT_SECONDS",
                300,
                1..=DAY_SECONDS,
            )?),
        })
    }
}

/// `RECUR_METRICS_ADDR`: an address to serve metrics and probes on, or none when unset or empty.
fn metrics_addr_from_env() -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let addr: String = env_or("RECUR_METRICS_ADDR", String::new())?;
    if addr.is_empty() {
        return Ok(None);
    }
    addr.parse().map(Some).map_err(|error: std::net::AddrParseError| ConfigError {
        name: "RECUR_METRICS_ADDR",
        value: addr,
        reason: error.to_string(),
    })
}

/// `RECUR_ALERT_WEBHOOK`: an `http(s)://` URL, or none when unset or empty.
fn alert_webhook_from_env() -> Result<Option<String>, ConfigError> {
    let url: String = env_or("RECUR_ALERT_WEBHOOK", String::new())?;
    if url.is_empty() {
        return Ok(None);
    }
    match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(Some(url)),
        _ => Err(ConfigError { name: "RECUR_ALERT_WEBHOOK", value: url, reason: "must be an http(s) URL".to_string() }),
    }
}

/// `host-pid-random`, unique across restarts and machines.
fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..6])
}
