use std::{fmt, str::FromStr};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobId, serde_instant};
use crate::Error;

/// The id of one attempt of one job: `{job id}-a{attempt}`. Deterministic, so a retried write of the same
/// attempt lands on the same record, and it names its schedule, so no global lookup table is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecutionId {
    pub job: JobId,
    pub attempt: u32,
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-a{}", self.job, self.attempt)
    }
}

impl FromStr for ExecutionId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid("execution_id", format!("{text:?} is not an execution id"));
        let (job, attempt) = text.rsplit_once("-a").ok_or_else(invalid)?;
        if attempt.is_empty() || !attempt.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        Ok(Self { job: job.parse().map_err(|_| invalid())?, attempt: attempt.parse().map_err(|_| invalid())? })
    }
}

impl Serialize for ExecutionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExecutionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionState {
    Running,
    Succeeded,
    Failed,
    /// Not run: the occurrence was skipped (catch-up window, overlap, or after `end_at`).
    Skipped,
    /// Stopped on request while it ran.
    Cancelled,
}

impl ExecutionState {
    /// The one string form, used in Redis, JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }
}

impl FromStr for ExecutionState {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            "skipped" => Ok(Self::Skipped),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(Error::invalid("state", format!("unknown execution state {other:?}"))),
        }
    }
}

/// The record of one attempt to run a job. Stored as this JSON in Redis and served as is by the API.
///
/// `start_job.lua` writes the running form with Lua's JSON encoder, which cannot write an empty array or
/// `null`, hence the serde defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub job_id: String,
    pub schedule_id: Uuid,
    pub workflow_id: Uuid,
    /// The version of the workflow this attempt ran; set once it loaded the workflow.
    #[serde(default)]
    pub workflow_version: Option<u32>,
    pub attempt: u32,
    pub state: ExecutionState,
    #[serde(with = "serde_instant")]
    pub scheduled_for: Timestamp,
    /// The random delay jitter added to this occurrence (`scheduled_for` includes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u64>,
    #[serde(with = "serde_instant")]
    pub started_at: Timestamp,
    #[serde(default, with = "serde_instant::option")]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    pub worker_id: String,
    #[serde(default)]
    pub output: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepRecord>,
}

impl Execution {
    /// Closes a running execution with `state` at `now`.
    pub fn close(&mut self, state: ExecutionState, now: Timestamp, error: Option<String>) {
        self.state = state;
        self.finished_at = Some(now);
        self.duration_ms = Some(u64::try_from(now.duration_since(self.started_at).as_millis()).unwrap_or(0));
        self.error = error;
    }
}

/// The log of one step of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub state: ExecutionState,
    #[serde(with = "serde_instant")]
    pub started_at: Timestamp,
    #[serde(default, with = "serde_instant::option")]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub output: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_name_their_job_and_attempt_and_round_trip() {
        let job = JobId::manual(Uuid::new_v4());
        let id = ExecutionId { job, attempt: 12 };
        assert_eq!(id.to_string(), format!("{job}-a12"));
        assert_eq!(id.to_string().parse::<ExecutionId>().unwrap(), id);
        assert!(format!("{job}-a").parse::<ExecutionId>().is_err());
        assert!(format!("{job}").parse::<ExecutionId>().is_err());
    }
}
