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

impl ExecutionId {
    /// What joins a job id and an attempt number; `claim_jobs.lua` names each execution it starts with it.
    pub const SEPARATOR: &str = "-a";
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.job, Self::SEPARATOR, self.attempt)
    }
}

impl FromStr for ExecutionId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid("execution_id", format!("{text:?} is not an execution id"));
        let (job, attempt) = text.rsplit_once(Self::SEPARATOR).ok_or_else(invalid)?;
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

/// In the API description: a string `{job id}-a{attempt}`.
impl utoipa::PartialSchema for ExecutionId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("`{job_id}-a{attempt}`: one attempt of one job"))
            .examples([serde_json::json!("sched-0193a8f2-5c3e-7d41-9a6b-2f8e4c1d0b7a-n3-rc0-a1")])
            .into()
    }
}

impl utoipa::ToSchema for ExecutionId {}

impl<'de> Deserialize<'de> for ExecutionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

super::string_enum! {
    /// Where an execution is in its life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ExecutionState as "state" {
        /// Waiting for a worker: its job is due or delayed (`GET /executions/{id}` only; listings hold
        /// executions that started).
        Queued = "queued",
        /// Queued, and no live worker that took it offers a handler its workflow calls (`error` names it):
        /// it runs once a worker offering the handler starts.
        WaitingForHandler = "waiting_for_handler",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Not run: the occurrence was skipped (catch-up window, overlap, or after `end_at`).
        Skipped = "skipped",
        /// Stopped on request while it ran, or, for an ad-hoc run, before it started (`started_at` null).
        Cancelled = "cancelled",
    }
}

/// The record of one attempt to run a job, served as is by the API. Stored in Redis once the attempt ended
/// (written by Rust alone, in the shorter form of `record::execution_json`); while it runs it is read from
/// its job's hash. The serde defaults read records written by earlier versions, whose running form came from
/// Lua's JSON encoder, and the stored form, which leaves out what `id` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Execution {
    pub id: ExecutionId,
    #[serde(default)]
    #[schema(required = true)]
    pub job_id: String,
    #[serde(default)]
    #[schema(required = true)]
    pub schedule_id: Uuid,
    pub workflow_id: Uuid,
    /// The version of the workflow this attempt ran; known from its start (the version its claim handed the worker).
    #[serde(default)]
    #[schema(required = true)]
    pub workflow_version: Option<u32>,
    pub attempt: u32,
    pub state: ExecutionState,
    #[serde(with = "serde_instant")]
    pub scheduled_for: Timestamp,
    /// The random delay jitter added to this occurrence (`scheduled_for` includes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u64>,
    /// `None` while it is queued.
    #[serde(default, with = "serde_instant::option")]
    #[schema(required = true)]
    pub started_at: Option<Timestamp>,
    #[serde(default, with = "serde_instant::option")]
    #[schema(required = true)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    #[schema(required = true)]
    pub duration_ms: Option<u64>,
    /// Empty until a worker takes it, and for an occurrence skipped without running.
    pub worker_id: String,
    #[serde(default)]
    #[schema(required = true)]
    pub output: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(required = true)]
    pub error: Option<String>,
    #[serde(default)]
    #[schema(required = true)]
    pub steps: Vec<StepRecord>,
}

impl Execution {
    /// Attempt `id` of a job of `schedule_id`, running on `worker_id` since `started_at`, for the occurrence due
    /// at `scheduled_for` (which includes `jitter_ms` of random delay).
    pub fn running(
        id: ExecutionId,
        schedule_id: Uuid,
        workflow_id: Uuid,
        scheduled_for: Timestamp,
        jitter_ms: Option<u64>,
        started_at: Timestamp,
        worker_id: String,
    ) -> Self {
        Self {
            id,
            job_id: id.job.to_string(),
            schedule_id,
            workflow_id,
            workflow_version: None,
            attempt: id.attempt,
            state: ExecutionState::Running,
            scheduled_for,
            jitter_ms,
            started_at: Some(started_at),
            finished_at: None,
            duration_ms: None,
            worker_id,
            output: None,
            error: None,
            steps: Vec::new(),
        }
    }

    /// Attempt `id`, not taken by a worker yet, of a job due at `scheduled_for`.
    pub fn queued(id: ExecutionId, schedule_id: Uuid, workflow_id: Uuid, scheduled_for: Timestamp) -> Self {
        Self {
            state: ExecutionState::Queued,
            started_at: None,
            ..Self::running(id, schedule_id, workflow_id, scheduled_for, None, scheduled_for, String::new())
        }
    }

    /// Closes a running execution with `state` at `now`.
    pub fn close(&mut self, state: ExecutionState, now: Timestamp, error: Option<String>) {
        self.state = state;
        self.finished_at = Some(now);
        let took = self.started_at.map(|started| now.duration_since(started).as_millis());
        self.duration_ms = Some(took.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0));
        self.error = error;
    }
}

/// The log of one step of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub state: ExecutionState,
    #[serde(with = "serde_instant")]
    pub started_at: Timestamp,
    #[serde(default, with = "serde_instant::option")]
    #[schema(required = true)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    #[schema(required = true)]
    pub output: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(required = true)]
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

    #[test]
    fn a_closed_execution_keeps_its_start_and_counts_its_duration() {
        let job = JobId::regular(Uuid::new_v4(), 3, 1);
        let started: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let id = ExecutionId { job, attempt: 2 };
        let mut execution =
            Execution::running(id, job.schedule(), Uuid::new_v4(), started, None, started, "w1".to_string());
        assert_eq!((execution.job_id.as_str(), execution.attempt), (job.to_string().as_str(), 2));
        execution.close(ExecutionState::Failed, started + jiff::SignedDuration::from_millis(1500), Some("x".into()));
        assert_eq!(execution.state, ExecutionState::Failed);
        assert_eq!(execution.duration_ms, Some(1500));
        assert_eq!(execution.error.as_deref(), Some("x"));
    }
}
