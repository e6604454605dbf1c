use std::{net::SocketAddr, time::Duration};

use recur_common::{
    config::{
        API_SETTINGS, ConfigError, RedisSettings, SHARED_SETTINGS, Setting, env_or, env_within, retention_from_env,
    },
    store::Retention,
};
use secrecy::SecretString;

/// Everything the API is configured with; read from the environment by [`Settings::from_env`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub redis: RedisSettings,
    /// Where to listen (`RECUR_API_ADDR`).
    pub addr: SocketAddr,
    /// Accepted bearer tokens (`RECUR_API_KEYS`, comma-separated); empty means no authentication.
    pub api_keys: Vec<SecretString>,
    /// Executions kept per schedule, and for how long (the reconciler pass of `POST /admin/tick` trims).
    pub retention: Retention,
    /// What one client may hold of the server.
    pub limits: Limits,
}

/// Bounds on what clients may hold, so slow or many connections cannot starve the others.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once (`RECUR_API_MAX_CONNECTIONS`); past that, new ones wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, and to start the next one on a kept-alive
    /// connection (`RECUR_API_HEADER_TIMEOUT_SECONDS`).
    pub header_timeout: Duration,
    /// How long a request may take, body included (`RECUR_API_REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
}

impl Settings {
    /// Every setting recur-api reads.
    pub fn all() -> Vec<Setting> {
        [SHARED_SETTINGS, API_SETTINGS].concat()
    }

    /// Reads the environment; the error names the variable that failed.
    pub fn from_env() -> Result<Self, ConfigError> {
        let keys: String = env_or("RECUR_API_KEYS", String::new())?;
        Ok(Self {
            redis: RedisSettings::from_env()?,
            addr: env_or("RECUR_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            api_keys: keys
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(|key| SecretString::from(key.to_string()))
                .collect(),
            retention: retention_from_env()?,
            limits: Limits {
                max_connections: env_within("RECUR_API_MAX_CONNECTIONS", 1_024, 1..=100_000)?,
                header_timeout: Duration::from_secs(env_within("RECUR_API_HEADER_TIMEOUT_SECONDS", 10, 1..=600)?),
                request_timeout: Duration::from_secs(env_within("RECUR_API_REQUEST_TIMEOUT_SECONDS", 60, 1..=3_600)?),
            },
        })
    }

    /// Without keys the API may only listen on a loopback address.
    pub fn check_exposure(&self) -> anyhow::Result<()> {
        if self.api_keys.is_empty() && !self.addr.ip().is_loopback() {
            anyhow::bail!(
                "refusing to listen on {} without RECUR_API_KEYS: set keys, or listen on a loopback address",
                self.addr
            );
        }
        Ok(())
    }
}
