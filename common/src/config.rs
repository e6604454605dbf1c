//! Settings that both binaries share, and the one helper that reads environment variables.

use std::{collections::HashMap, ops::RangeInclusive, str::FromStr, sync::OnceLock, time::Duration};

use crate::{connection::RedisConnection, keys::Keys};

/// How long a Redis command may take before it fails, unless `RECUR_REDIS_TIMEOUT_MS` says otherwise:
/// long enough for a big page or a short stall, short enough that an unreachable Redis is noticed.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// The most shards a deployment may have: `{prefix:s99}` is the last two-digit shard tag, and more shards
/// than a cluster has primaries only add fan-out.
pub const MAX_SHARDS: usize = 100;

/// Where Redis is, which key prefix this deployment uses, and how long a command may take.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL, with password and db index; or, for a Redis Cluster,
    /// `redis+cluster://` or `rediss+cluster://` with one or more seed nodes, comma-separated
    /// (`redis+cluster://:password@10.0.0.1:7000,10.0.0.2:7000`).
    pub url: String,
    /// First segment of every key (`RECUR_PREFIX`).
    pub prefix: String,
    /// How many shards the deployment's schedules and jobs spread over (`RECUR_SHARDS`), fixed at creation.
    pub shards: usize,
    /// How long a reply may take before the command fails (`RECUR_REDIS_TIMEOUT_MS`).
    pub response_timeout: Duration,
}

impl RedisSettings {
    /// Reads `REDIS_URL`, `RECUR_PREFIX` and `RECUR_REDIS_TIMEOUT_MS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let prefix: String = env_or("RECUR_PREFIX", "recur".to_string())?;
        // The prefix becomes the keys' hash tag, so braces or spaces in it would break the layout.
        let valid = (1..=64).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ConfigError {
                name: "RECUR_PREFIX",
                value: prefix,
                reason: "must match [A-Za-z0-9_.-]{1,64}".to_string(),
            });
        }
        let timeout_ms = env_within("RECUR_REDIS_TIMEOUT_MS", DEFAULT_REDIS_TIMEOUT.as_millis() as u64, 1..=600_000)?;
        Ok(Self {
            url: checked_redis_url(env_or("REDIS_URL", "redis://127.0.0.1:6379".to_string())?)?,
            prefix,
            shards: env_within("RECUR_SHARDS", 1, 1..=MAX_SHARDS)?,
            response_timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// Settings for `url` with the default prefix and timeout.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self { url: url.into(), prefix: "recur".to_string(), shards: 1, response_timeout: DEFAULT_REDIS_TIMEOUT }
    }

    /// The key layout of the deployment: its prefix and shard count.
    pub fn keys(&self) -> Keys {
        Keys::sharded(&self.prefix, self.shards)
    }

    /// Connects to Redis with a multiplexed connection that reconnects by itself, or to a Redis Cluster
    /// through its seed nodes.
    ///
    /// Fails at once (instead of retrying forever) so that a binary started with a wrong URL says so.
    pub async fn connect(&self) -> crate::Result<RedisConnection> {
        // `rediss://` needs a rustls crypto provider; name one, since the binaries link different TLS users.
        let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let unreachable = |source| crate::Error::Unreachable { url: self.redacted_url(), source };
        if let Some(nodes) = self.cluster_nodes() {
            let cluster = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(Duration::from_secs(3))
                .response_timeout(self.response_timeout)
                .build()
                .map_err(unreachable)?;
            return Ok(RedisConnection::Cluster(cluster.get_async_connection().await.map_err(unreachable)?));
        }
        let client = redis::Client::open(self.url.as_str()).map_err(unreachable)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(self.response_timeout));
        let conn = redis::aio::ConnectionManager::new_with_config(client, config).await.map_err(unreachable)?;
        Ok(RedisConnection::Single(conn))
    }

    /// The seed nodes of a `redis+cluster://` (or `rediss+cluster://`) URL, each as a plain node URL with
    /// the URL's credentials; `None` for a single server.
    pub fn cluster_nodes(&self) -> Option<Vec<String>> {
        let (scheme, rest) = self.url.split_once("://")?;
        let scheme = scheme.strip_suffix("+cluster")?;
        let (credentials, hosts) = match rest.rsplit_once('@') {
            Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
            None => (String::new(), rest),
        };
        let hosts = hosts.trim_end_matches('/');
        Some(
            hosts
                .split(',')
                .filter(|host| !host.is_empty())
                .map(|host| format!("{scheme}://{credentials}{host}"))
                .collect(),
        )
    }

    /// The servers a subscriber may listen on, in the order to try them: the one server, or every seed node
    /// of a cluster (a cluster forwards a publish to every node, so any one of them hears every signal).
    pub fn subscriber_urls(&self) -> Vec<String> {
        self.cluster_nodes().unwrap_or_else(|| vec![self.url.clone()])
    }
}

/// Reads `RECUR_EXECUTION_KEEP` (executions kept per schedule, default 1000) and `RECUR_EXECUTION_TTL_DAYS`
/// (how long an execution is kept, default 7).
pub fn retention_from_env() -> Result<crate::store::Retention, ConfigError> {
    let keep = env_within("RECUR_EXECUTION_KEEP", 1_000, 1..=1_000_000)?;
    let days: u64 = env_within("RECUR_EXECUTION_TTL_DAYS", 7, 1..=3650)?;
    Ok(crate::store::Retention { keep, max_age: jiff::SignedDuration::from_hours(24 * days as i64) })
}

/// A variable that is set but cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// A variable a binary reads, which it also takes as a command-line flag: the variable's name without
/// `RECUR_`, in lower case with dashes (`RECUR_LEASE_SECONDS` is `--lease-seconds`).
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub variable: &'static str,
    pub help: &'static str,
}

/// The settings both binaries read.
pub const SHARED_SETTINGS: &[Setting] = &[
    Setting {
        variable: "REDIS_URL",
        help: "redis:// or rediss:// URL, with password and db index; redis+cluster://host:port,... for a cluster",
    },
    Setting { variable: "RECUR_PREFIX", help: "first segment of every key (its hash tag)" },
    Setting { variable: "RECUR_SHARDS", help: "hash tags a deployment's schedules spread over (fixed at creation)" },
    Setting { variable: "RECUR_REDIS_TIMEOUT_MS", help: "how long a Redis command may take, ms" },
    Setting { variable: "RECUR_EXECUTION_KEEP", help: "executions kept per schedule" },
    Setting { variable: "RECUR_EXECUTION_TTL_DAYS", help: "days an execution is kept" },
    Setting { variable: "RECUR_LOG_FORMAT", help: "json for JSON log lines" },
];

/// recur-api's own settings, each a variable and a flag (beside [`SHARED_SETTINGS`]).
pub const API_SETTINGS: &[Setting] = &[
    Setting { variable: "RECUR_API_ADDR", help: "where recur-api listens" },
    Setting { variable: "RECUR_API_KEYS", help: "comma-separated bearer tokens; empty means loopback only" },
    Setting { variable: "RECUR_API_MAX_CONNECTIONS", help: "connections served at once" },
    Setting {
        variable: "RECUR_API_HEADER_TIMEOUT_SECONDS",
        help: "how long a client may take to send a request's head",
    },
    Setting { variable: "RECUR_API_REQUEST_TIMEOUT_SECONDS", help: "how long a request may take, body included" },
];

/// recur-worker's own settings, each a variable and a flag (beside [`SHARED_SETTINGS`]).
pub const WORKER_SETTINGS: &[Setting] = &[
    Setting { variable: "RECUR_QUEUES", help: "comma-separated queues to consume, in priority order" },
    Setting { variable: "RECUR_CONCURRENCY", help: "jobs run at once" },
    Setting { variable: "RECUR_LEASE_SECONDS", help: "how long a claimed job stays owned without renewal" },
    Setting { variable: "RECUR_RECONCILE_SECONDS", help: "how often the reconciler runs" },
    Setting { variable: "RECUR_SHUTDOWN_GRACE_SECONDS", help: "after SIGTERM, how long running jobs may finish" },
    Setting { variable: "RECUR_WORKER_ID", help: "this worker's name in executions, heartbeats and logs" },
    Setting { variable: "RECUR_METRICS_ADDR", help: "where to serve /metrics, /healthz and /readyz" },
    Setting { variable: "RECUR_ALERT_WEBHOOK", help: "an http(s) URL to POST alerts to" },
    Setting {
        variable: "RECUR_HANDLER_WAIT_ALERT_SECONDS",
        help: "how long a job may wait for a worker offering its handler before an alert",
    },
    Setting { variable: "RECUR_HTTP_DENY", help: "CIDR ranges http steps may not reach" },
    Setting { variable: "RECUR_HTTP_ALLOW", help: "exceptions inside the denied ranges" },
];

/// What the `recur` command-line client reads.
pub const CLIENT_VARIABLES: &[&str] = &["RECUR_API_URL", "RECUR_API_KEY"];

/// A warning for each `RECUR_` variable among `names` that no recur program reads (a misspelt setting is
/// otherwise ignored in silence, its default taken), naming the setting it most likely meant.
pub fn unknown_variables(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let known: Vec<&str> = [SHARED_SETTINGS, API_SETTINGS, WORKER_SETTINGS]
        .concat()
        .iter()
        .map(|setting| setting.variable)
        .chain(CLIENT_VARIABLES.iter().copied())
        .collect();
    let mut unknown: Vec<String> =
        names.into_iter().filter(|name| name.starts_with("RECUR_") && !known.contains(&name.as_str())).collect();
    unknown.sort();
    unknown
        .into_iter()
        .map(|name| {
            let closest = known.iter().map(|known| (strsim::levenshtein(&name, known), *known)).min();
            match closest.filter(|(distance, _)| *distance <= 3) {
                Some((_, meant)) => format!("{name} is set, but no recur program reads it: did you mean {meant}?"),
                None => format!("{name} is set, but no recur program reads it"),
            }
        })
        .collect()
}

/// [`unknown_variables`] of this process's environment, each logged as a warning.
pub fn warn_of_unknown_variables() {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for warning in unknown_variables(names) {
        tracing::warn!("{warning}");
    }
}

/// Values given as flags; they win over the environment. Recorded once, at start, by [`use_flags`].
static FLAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();

impl Setting {
    fn flag(self) -> String {
        self.variable.trim_start_matches("RECUR_").to_lowercase().replace('_', "-")
    }
}

/// `command` with a `--flag VALUE` for each of `settings` (its help names the variable).
fn with_setting_flags(mut command: clap::Command, settings: &[Setting]) -> clap::Command {
    for setting in settings {
        command = command.arg(
            clap::Arg::new(setting.variable)
                .long(setting.flag())
                .value_name("VALUE")
                .global(true)
                .help(format!("{} [env: {}]", setting.help, setting.variable)),
        );
    }
    command
}

/// Parses the command line of a binary whose settings are `settings`: its own arguments, plus a flag per
/// setting, recorded so that [`env_or`] reads them before the environment. Exits with clap's message on a
/// bad command line.
pub fn parse_command_line<Cli: clap::Parser>(settings: &[Setting]) -> Cli {
    let matches = with_setting_flags(Cli::command(), settings).get_matches();
    use_flags(&matches, settings);
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// Records the flags of `settings` given in `matches`, so that [`env_or`] reads them before the environment.
fn use_flags(matches: &clap::ArgMatches, settings: &[Setting]) {
    let given = settings
        .iter()
        .filter_map(|setting| Some((setting.variable, matches.get_one::<String>(setting.variable)?.clone())))
        .collect();
    let _first_call_wins = FLAGS.set(given);
}

/// The value of `name`: its flag if one was given, else the environment's.
pub fn lookup(name: &str) -> Option<String> {
    FLAGS.get().and_then(|flags| flags.get(name).cloned()).or_else(|| std::env::var(name).ok())
}

/// Reads `name` (a flag, or the environment) and parses it, or returns `default` when it is unset or empty.
pub fn env_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        Some(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|error: T::Err| ConfigError { name, value, reason: error.to_string() })
        }
        _ => Ok(default),
    }
}

/// [`env_or`] for a number that must lie within `range`: every setting is checked at start, so a value out
/// of range stops the binary with one clear line instead of failing later in a background task.
pub fn env_within<T>(name: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let value = env_or(name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        let reason = format!("must be between {} and {}", range.start(), range.end());
        Err(ConfigError { name, value: value.to_string(), reason })
    }
}

/// The schemes `REDIS_URL` may have: one server (plain, TLS or a Unix socket) or a cluster's seed nodes.
const REDIS_URL_SCHEMES: &[&str] = &["redis", "rediss", "unix", "redis+unix", "redis+cluster", "rediss+cluster"];

/// `url` when its scheme is one recur connects with; else why not (the password hidden), so that a binary
/// says what is wrong with the URL rather than that it cannot reach Redis.
fn checked_redis_url(url: String) -> Result<String, ConfigError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|scheme| REDIS_URL_SCHEMES.contains(&scheme)) {
        return Ok(url);
    }
    Err(ConfigError {
        name: "REDIS_URL",
        value: RedisSettings::for_url(url).redacted_url(),
        reason: "must start with redis:// or rediss:// (redis+cluster:// or rediss+cluster:// for a cluster, \
                 unix:// for a socket)"
            .to_string(),
    })
}

impl RedisSettings {
    /// The URL with any password replaced by `***`, for messages and logs.
    pub fn redacted_url(&self) -> String {
        match (self.url.split_once("://"), self.url.rfind('@')) {
            (Some((scheme, rest)), Some(at)) if at > scheme.len() => {
                let credentials = &rest[..at - scheme.len() - 3];
                let user = credentials.split_once(':').map_or("", |(user, _)| user);
                format!("{scheme}://{user}:***@{}", &self.url[at + 1..])
            }
            _ => self.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(url: &str) -> String {
        RedisSettings::for_url(url).redacted_url()
    }

    #[tokio::test]
    async fn a_reply_slower_than_the_response_timeout_fails_and_one_within_it_arrives() {
        let redis = crate::testing::TestRedis::start_with(&["--save", "", "--enable-debug-command", "yes"]);
        let stall = redis::cmd("DEBUG").arg("SLEEP").arg("0.6").to_owned();
        let short = RedisSettings { response_timeout: Duration::from_millis(150), ..redis.settings() };
        let error = stall.query_async::<()>(&mut short.connect().await.unwrap()).await.unwrap_err();
        assert!(error.is_timeout(), "{error}");
        let default = redis.settings();
        assert_eq!(default.response_timeout, DEFAULT_REDIS_TIMEOUT);
        stall.query_async::<()>(&mut default.connect().await.unwrap()).await.unwrap();
    }

    #[test]
    fn a_cluster_url_names_its_seed_nodes_with_its_credentials() {
        let nodes = |url: &str| RedisSettings::for_url(url).cluster_nodes();
        assert_eq!(nodes("redis://127.0.0.1:6379"), None);
        assert_eq!(
            nodes("redis+cluster://:s3cr@t@10.0.0.1:7000,10.0.0.2:7001/"),
            Some(vec!["redis://:s3cr@t@10.0.0.1:7000".to_string(), "redis://:s3cr@t@10.0.0.2:7001".to_string()])
        );
        assert_eq!(nodes("rediss+cluster://cache:7000"), Some(vec!["rediss://cache:7000".to_string()]));
        let settings = RedisSettings::for_url("redis+cluster://:secret@a:1,b:2");
        assert_eq!(settings.redacted_url(), "redis+cluster://:***@a:1,b:2");
        assert_eq!(settings.subscriber_urls(), ["redis://:secret@a:1", "redis://:secret@b:2"]);
    }

    #[test]
    fn a_redis_url_of_another_scheme_is_refused_naming_the_ones_it_may_have_without_its_password() {
        for url in
            ["redis://127.0.0.1:6379/2", "rediss://cache:6380", "unix:///run/redis.sock", "redis+cluster://a:1,b:2"]
        {
            assert_eq!(checked_redis_url(url.to_string()).ok().as_deref(), Some(url));
        }
        for url in ["http://:secret@cache:6379", "127.0.0.1:6379", ""] {
            let error = checked_redis_url(url.to_string()).unwrap_err();
            assert!(error.reason.starts_with("must start with redis://"), "{url}: {}", error.reason);
            assert!(!error.value.contains("secret"), "{}", error.value);
        }
    }

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(redacted("redis://:secret@cache:6379/2"), "redis://:***@cache:6379/2");
        assert_eq!(redacted("rediss://app:s3cr@t@cache.example:6380"), "rediss://app:***@cache.example:6380");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn a_misspelt_setting_is_named_with_the_one_it_likely_meant() {
        let names =
            ["RECUR_CONCURENCY", "RECUR_API_KEYS", "RECUR_API_URL", "REDIS_URL", "RECUR_SOMETHING_ELSE", "HOME"];
        assert_eq!(
            unknown_variables(names.map(String::from)),
            [
                "RECUR_CONCURENCY is set, but no recur program reads it: did you mean RECUR_CONCURRENCY?",
                "RECUR_SOMETHING_ELSE is set, but no recur program reads it",
            ],
            "a variable of another recur program (the API's keys in a worker's environment) is not unknown"
        );
    }
}
