use std::net::SocketAddr;

use recur_common::{
    config::{ConfigError, RedisSettings, env_or, retention_from_env},
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
}

impl Settings {
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
