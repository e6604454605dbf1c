//! The error type of `recur-common`: variants only for what callers branch on.

use std::borrow::Cow;

/// What can go wrong in the store and the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named record does not exist.
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// The record exists but is in a state that forbids the change (a pause of a paused schedule, a
    /// duplicate workflow name, deleting a workflow that schedules use).
    #[error("{0}")]
    Conflict(String),
    /// Input that breaks a rule of the model. `code` is the API's error code (`validation_error` unless a
    /// more precise one such as `invalid_cron` applies).
    #[error("{message}")]
    Invalid { code: &'static str, field: Option<Cow<'static, str>>, message: String },
    /// A run was refused because another run of the schedule is under way (overlap policy `skip`).
    #[error("schedule {0} has a run under way and its overlap policy is skip")]
    AlreadyRunning(uuid::Uuid),
    /// Items of a bulk request that cannot be accepted, each with its position (from 0); the request was
    /// refused as a whole.
    #[error("{} of the request's items cannot be accepted; nothing was created", items.len())]
    InvalidItems { items: Vec<(usize, Error)> },
    /// A schedule names a workflow that does not exist.
    #[error("workflow {0} does not exist")]
    UnknownWorkflow(uuid::Uuid),
    /// Redis did not answer when connecting (the URL is shown without its password).
    #[error("cannot reach Redis at {url}")]
    Unreachable { url: String, source: redis::RedisError },
    /// Redis answered with an error or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record in Redis could not be decoded.
    #[error("corrupt record {key}: {detail}")]
    Corrupt { key: String, detail: String },
    /// A script answered what its header does not document: a bug, not bad data.
    #[error("{script} answered unexpectedly: {detail}")]
    UnexpectedReply { script: &'static str, detail: String },
    /// The deployment was created with another shard count than this process was started with.
    #[error(
        "the deployment {prefix:?} was created with RECUR_SHARDS={stored}, and this process was started with \
         RECUR_SHARDS={configured}; start it with RECUR_SHARDS={stored} (the shard count is fixed at creation)"
    )]
    ShardCountMismatch { prefix: String, stored: u64, configured: usize },
    /// A JSON value could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// An [`Error::Invalid`] about one field.
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Invalid { code: "validation_error", field: Some(field.into()), message: message.into() }
    }

    /// An [`Error::NotFound`] for the record `kind` named `id`.
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound { kind, id: id.to_string() }
    }

    /// An [`Error::Corrupt`]: what was stored under `key` could not be decoded.
    pub fn corrupt(key: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Corrupt { key: key.into(), detail: detail.into() }
    }

    /// Whether Redis refused a write because it reached `maxmemory` under the `noeviction` policy (then
    /// nothing of the refused command or script was written).
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, Self::Redis(error) if error.code() == Some("OOM")
            || error.to_string().contains("OOM command not allowed"))
    }

    /// An [`Error::UnexpectedReply`] of `script`.
    pub fn unexpected_reply(script: &'static str, detail: impl Into<String>) -> Self {
        Self::UnexpectedReply { script, detail: detail.into() }
    }

    /// An [`Error::Invalid`] about one field with a precise error code.
    pub fn invalid_as(code: &'static str, field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Invalid { code, field: Some(field.into()), message: message.into() }
    }
}

/// An error and its causes on one line, leaving out causes whose text the line already holds (many
/// errors repeat their source in their own message).
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
