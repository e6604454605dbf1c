use std::{collections::HashMap, str::FromStr};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ExecutionId, ExecutionState, JobId, QueueName, from_millis, millis, serde_instant};
use crate::{Error, timing};

/// Largest serialized payload a schedule may carry.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_RETRY: u32 = 100;

/// Where a schedule is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStatus {
    Active,
    Paused,
    Done,
    Dead,
}

impl ScheduleStatus {
    /// Every status, in documentation order.
    pub const ALL: [Self; 4] = [Self::Active, Self::Paused, Self::Done, Self::Dead];

    /// The one string form, used in Redis, JSON, logs and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

impl FromStr for ScheduleStatus {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|status| status.as_str() == text).ok_or_else(|| {
            Error::invalid("status", format!("status must be one of active, paused, done, dead, not {text:?}"))
        })
    }
}

/// A scheduled job: when to run which workflow, how often, how many times, and how to retry.
///
/// The serialized form is the API's. `rev`, `anchor_at` and `live_job` are bookkeeping kept in Redis only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub trigger_node_id: Option<String>,
    pub workflow_id: Uuid,
    pub interval_seconds: u64,
    #[serde(with = "serde_instant")]
    pub start_at: Timestamp,
    pub repeat_count: u64,
    pub retry_max: u32,
    pub timeout_seconds: u64,
    pub queue: QueueName,
    pub payload: serde_json::Map<String, serde_json::Value>,
    pub status: ScheduleStatus,
    pub current_repeat: u64,
    pub current_retry: u32,
    #[serde(with = "serde_instant::option")]
    pub next_run_at: Option<Timestamp>,
    #[serde(with = "serde_instant::option")]
    pub last_run_at: Option<Timestamp>,
    pub last_status: Option<ExecutionState>,
    pub last_error: Option<String>,
    pub last_execution_id: Option<ExecutionId>,
    pub run_count: u64,
    pub error_count: u64,
    /// Regular slots skipped because they passed while the previous run was late or running.
    pub missed_count: u64,
    #[serde(with = "serde_instant")]
    pub created_at: Timestamp,
    #[serde(with = "serde_instant")]
    pub updated_at: Timestamp,
    /// Bumped by every write; scripts refuse a write planned from an older revision.
    #[serde(skip)]
    pub rev: u64,
    /// Slot 0 of the fixed-rate grid: `start_at`, or the instant of the last re-plan (resume, patch).
    #[serde(skip)]
    pub anchor_at: Timestamp,
    /// The regular job that is delayed, ready or running, if any.
    #[serde(skip)]
    pub live_job: Option<JobId>,
}

/// The body of `POST /schedules`. Pipelit's field names are accepted as aliases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub name: Option<String>,
    pub description: Option<String>,
    pub trigger_node_id: Option<String>,
    pub workflow_id: Uuid,
    pub interval_seconds: Option<u64>,
    pub start_at: Option<Timestamp>,
    #[serde(alias = "total_repeats")]
    pub repeat_count: Option<u64>,
    #[serde(alias = "max_retries")]
    pub retry_max: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub queue: Option<String>,
    #[serde(alias = "trigger_payload")]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The body of `PATCH /schedules/{id}`: every field optional; status changes go through pause and resume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub trigger_node_id: Option<Option<String>>,
    pub workflow_id: Option<Uuid>,
    pub interval_seconds: Option<u64>,
    pub start_at: Option<Timestamp>,
    #[serde(alias = "total_repeats")]
    pub repeat_count: Option<u64>,
    #[serde(alias = "max_retries")]
    pub retry_max: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub queue: Option<String>,
    #[serde(alias = "trigger_payload")]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Tells a field set to `null` (`Some(None)`) from a field left out (`None`).
fn explicit_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl NewSchedule {
    /// Checks every field and builds the schedule as created at `now`, with its first run planned.
    pub fn into_schedule(self, id: Uuid, workflow_name: &str, now: Timestamp) -> Result<Schedule, Error> {
        let interval_seconds =
            self.interval_seconds.ok_or_else(|| Error::invalid("interval_seconds", "interval_seconds is required"))?;
        check_interval(interval_seconds)?;
        let name = match self.name {
            Some(name) => check_name(name)?,
            None => format!("{workflow_name}-{}", &id.simple().to_string()[..8]),
        };
        let start_at = self.start_at.unwrap_or_else(|| timing::after_seconds(now, interval_seconds));
        let mut schedule = Schedule {
            id,
            name,
            description: check_description(self.description.unwrap_or_default())?,
            trigger_node_id: self.trigger_node_id,
            workflow_id: self.workflow_id,
            interval_seconds,
            start_at,
            repeat_count: self.repeat_count.unwrap_or(0),
            retry_max: check_retry_max(self.retry_max.unwrap_or(3))?,
            timeout_seconds: check_timeout(self.timeout_seconds.unwrap_or(600))?,
            queue: QueueName::parse(self.queue.as_deref().unwrap_or("default"))?,
            payload: check_payload(self.payload.unwrap_or_default())?,
            status: ScheduleStatus::Active,
            current_repeat: 0,
            current_retry: 0,
            next_run_at: None,
            last_run_at: None,
            last_status: None,
            last_error: None,
            last_execution_id: None,
            run_count: 0,
            error_count: 0,
            missed_count: 0,
            created_at: now,
            updated_at: now,
            rev: 0,
            anchor_at: start_at,
            live_job: None,
        };
        schedule.plan_from(start_at, now);
        Ok(schedule)
    }
}

impl Schedule {
    /// The regular job the counters point at: the one to run next.
    pub fn current_job(&self) -> JobId {
        JobId::regular(self.id, self.current_repeat, self.current_retry)
    }

    /// The regular job the record points at: its live job, or else the one its counters name.
    pub fn planned_job(&self) -> JobId {
        self.live_job.unwrap_or_else(|| self.current_job())
    }

    /// Re-anchors the grid at `anchor` and points `next_run_at` and `live_job` at the current job, due at
    /// `anchor` or `now`, whichever is later (a start in the past runs at once).
    fn plan_from(&mut self, anchor: Timestamp, now: Timestamp) {
        self.anchor_at = anchor;
        self.next_run_at = Some(anchor.max(now));
        self.live_job = Some(self.current_job());
    }

    /// The schedule after `pause` at `now`.
    pub fn paused(&self, now: Timestamp) -> Result<Self, Error> {
        if self.status != ScheduleStatus::Active {
            return Err(Error::Conflict(format!(
                "schedule {} is {}, only an active schedule can be paused",
                self.id,
                self.status.as_str()
            )));
        }
        let mut next = self.touched(now);
        next.status = ScheduleStatus::Paused;
        next.next_run_at = None;
        Ok(next)
    }

    /// The schedule after `resume` at `now`: the current job is due one interval from now.
    pub fn resumed(&self, now: Timestamp) -> Result<Self, Error> {
        if self.status != ScheduleStatus::Paused {
            return Err(Error::Conflict(format!(
                "schedule {} is {}, only a paused schedule can be resumed",
                self.id,
                self.status.as_str()
            )));
        }
        let mut next = self.touched(now);
        next.status = ScheduleStatus::Active;
        let anchor = timing::after_seconds(now, self.interval_seconds);
        match self.live_job {
            // A job still running from before the pause plans the next run when it finishes.
            Some(_) => {
                next.anchor_at = anchor;
                next.next_run_at = Some(anchor);
            }
            None => next.plan_from(anchor, now),
        }
        Ok(next)
    }

    /// The schedule after `patch` at `now`. Timing changes of an active schedule re-plan its pending job.
    pub fn patched(&self, patch: SchedulePatch, now: Timestamp) -> Result<Self, Error> {
        let mut next = self.touched(now);
        if let Some(name) = patch.name {
            next.name = check_name(name)?;
        }
        if let Some(description) = patch.description {
            next.description = check_description(description)?;
        }
        if let Some(trigger_node_id) = patch.trigger_node_id {
            next.trigger_node_id = trigger_node_id;
        }
        if let Some(workflow_id) = patch.workflow_id {
            next.workflow_id = workflow_id;
        }
        if let Some(repeat_count) = patch.repeat_count {
            next.repeat_count = repeat_count;
        }
        if let Some(retry_max) = patch.retry_max {
            next.retry_max = check_retry_max(retry_max)?;
        }
        if let Some(timeout_seconds) = patch.timeout_seconds {
            next.timeout_seconds = check_timeout(timeout_seconds)?;
        }
        if let Some(queue) = patch.queue {
            next.queue = QueueName::parse(&queue)?;
        }
        if let Some(payload) = patch.payload {
            next.payload = check_payload(payload)?;
        }
        if let Some(interval_seconds) = patch.interval_seconds {
            check_interval(interval_seconds)?;
            next.interval_seconds = interval_seconds;
        }
        let retimed = patch.interval_seconds.is_some() || patch.start_at.is_some();
        if let Some(start_at) = patch.start_at {
            next.start_at = start_at;
        }
        if retimed && next.status == ScheduleStatus::Active {
            let anchor = patch.start_at.unwrap_or_else(|| timing::after_seconds(now, next.interval_seconds));
            next.plan_from(anchor, now);
        }
        Ok(next)
    }

    /// The schedule after the job `job` (whose due time was `due`) ended with `execution` at `now`, and
    /// the job to enqueue next, if any. This is where §3.2 of the spec lives.
    pub fn settled(
        &self,
        job: &JobId,
        due: Timestamp,
        execution: ExecutionId,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Settlement {
        let mut next = self.touched(now);
        next.last_run_at = Some(now);
        next.last_execution_id = Some(execution);
        match outcome {
            Outcome::Succeeded => {
                next.last_status = Some(ExecutionState::Succeeded);
                next.last_error = None;
                next.run_count += 1;
            }
            Outcome::Failed(error) => {
                next.last_status = Some(ExecutionState::Failed);
                next.last_error = Some(error.clone());
                next.error_count += 1;
            }
        }
        if job.is_manual() || self.live_job != Some(*job) {
            return Settlement { schedule: next, next_job: None };
        }
        next.live_job = None;
        next.next_run_at = None;
        let planned_due = match outcome {
            Outcome::Succeeded => {
                next.current_repeat += 1;
                next.current_retry = 0;
                if next.repeat_count > 0 && next.current_repeat >= next.repeat_count {
                    next.status = ScheduleStatus::Done;
                    None
                } else {
                    let (slot, missed) = timing::next_slot(next.anchor_at, next.interval_seconds, due, now);
                    next.missed_count += missed;
                    Some(slot)
                }
            }
            Outcome::Failed(_) => {
                next.current_retry += 1;
                if next.current_retry > next.retry_max {
                    next.status = ScheduleStatus::Dead;
                    None
                } else {
                    Some(now + timing::retry_delay(next.interval_seconds, next.current_retry))
                }
            }
        };
        let next_job = match planned_due {
            // A paused schedule keeps its counters moving but enqueues nothing until resumed.
            Some(due) if next.status == ScheduleStatus::Active => {
                next.next_run_at = Some(due);
                next.live_job = Some(next.current_job());
                next.live_job.map(|id| (id, due))
            }
            _ => None,
        };
        Settlement { schedule: next, next_job }
    }

    /// A copy with `updated_at` set to `now`.
    fn touched(&self, now: Timestamp) -> Self {
        Self { updated_at: now, ..self.clone() }
    }

    /// The Redis hash form: every field as text; `None` fields are left out (and deleted on write).
    pub fn to_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let ms = |t: Timestamp| millis(t).to_string();
        vec![
            ("id", Some(self.id.to_string())),
            ("name", Some(self.name.clone())),
            ("description", Some(self.description.clone())),
            ("trigger_node_id", self.trigger_node_id.clone()),
            ("workflow_id", Some(self.workflow_id.to_string())),
            ("interval_seconds", Some(self.interval_seconds.to_string())),
            ("start_at", Some(ms(self.start_at))),
            ("repeat_count", Some(self.repeat_count.to_string())),
            ("retry_max", Some(self.retry_max.to_string())),
            ("timeout_seconds", Some(self.timeout_seconds.to_string())),
            ("queue", Some(self.queue.to_string())),
            ("payload", Some(serde_json::Value::Object(self.payload.clone()).to_string())),
            ("status", Some(self.status.as_str().to_string())),
            ("current_repeat", Some(self.current_repeat.to_string())),
            ("current_retry", Some(self.current_retry.to_string())),
            ("next_run_at", self.next_run_at.map(ms)),
            ("last_run_at", self.last_run_at.map(ms)),
            ("last_status", self.last_status.map(|s| s.as_str().to_string())),
            ("last_error", self.last_error.clone()),
            ("last_execution_id", self.last_execution_id.map(|id| id.to_string())),
            ("run_count", Some(self.run_count.to_string())),
            ("error_count", Some(self.error_count.to_string())),
            ("missed_count", Some(self.missed_count.to_string())),
            ("created_at", Some(ms(self.created_at))),
            ("updated_at", Some(ms(self.updated_at))),
            ("rev", Some(self.rev.to_string())),
            ("anchor_at", Some(ms(self.anchor_at))),
            ("live_job", self.live_job.map(|id| id.to_string())),
        ]
    }

    /// Reads the Redis hash form written by [`Schedule::to_fields`].
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, String> {
        fn parse<T: FromStr>(fields: &HashMap<String, String>, name: &str) -> Result<T, String> {
            let text = fields.get(name).ok_or_else(|| format!("missing field {name}"))?;
            text.parse().map_err(|_| format!("field {name} has invalid value {text:?}"))
        }
        fn optional<T: FromStr>(fields: &HashMap<String, String>, name: &str) -> Result<Option<T>, String> {
            fields.get(name).map(|_| parse(fields, name)).transpose()
        }
        let instant = |name: &str| parse::<i64>(fields, name).map(from_millis);
        let optional_instant = |name: &str| optional::<i64>(fields, name).map(|ms| ms.map(from_millis));
        let payload = match serde_json::from_str(fields.get("payload").map_or("{}", String::as_str)) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err("field payload is not a JSON object".to_string()),
        };
        Ok(Self {
            id: parse(fields, "id")?,
            name: parse(fields, "name")?,
            description: fields.get("description").cloned().unwrap_or_default(),
            trigger_node_id: fields.get("trigger_node_id").cloned(),
            workflow_id: parse(fields, "workflow_id")?,
            interval_seconds: parse(fields, "interval_seconds")?,
            start_at: instant("start_at")?,
            repeat_count: parse(fields, "repeat_count")?,
            retry_max: parse(fields, "retry_max")?,
            timeout_seconds: parse(fields, "timeout_seconds")?,
            queue: QueueName::parse(fields.get("queue").map_or("", String::as_str)).map_err(|e| e.to_string())?,
            payload,
            status: parse(fields, "status")?,
            current_repeat: parse(fields, "current_repeat")?,
            current_retry: parse(fields, "current_retry")?,
            next_run_at: optional_instant("next_run_at")?,
            last_run_at: optional_instant("last_run_at")?,
            last_status: optional(fields, "last_status")?,
            last_error: fields.get("last_error").cloned(),
            last_execution_id: optional(fields, "last_execution_id")?,
            run_count: parse(fields, "run_count")?,
            error_count: parse(fields, "error_count")?,
            missed_count: parse(fields, "missed_count")?,
            created_at: instant("created_at")?,
            updated_at: instant("updated_at")?,
            rev: parse(fields, "rev")?,
            anchor_at: instant("anchor_at")?,
            live_job: optional(fields, "live_job")?,
        })
    }
}

/// How a job ended, as far as its schedule is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(String),
}

/// A schedule's next state after a job ended, and the regular job to enqueue with its due time.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub schedule: Schedule,
    pub next_job: Option<(JobId, Timestamp)>,
}

fn check_name(name: String) -> Result<String, Error> {
    let chars = name.chars().count();
    if (1..=MAX_NAME_CHARS).contains(&chars) && !name.trim().is_empty() {
        Ok(name)
    } else {
        Err(Error::invalid("name", format!("name must be 1 to {MAX_NAME_CHARS} characters")))
    }
}

fn check_description(description: String) -> Result<String, Error> {
    if description.chars().count() <= MAX_DESCRIPTION_CHARS {
        Ok(description)
    } else {
        Err(Error::invalid("description", format!("description must be at most {MAX_DESCRIPTION_CHARS} characters")))
    }
}

fn check_interval(seconds: u64) -> Result<(), Error> {
    // The upper bound keeps 10 × interval in milliseconds far inside i64 and jiff's range.
    if (1..=timing::MAX_INTERVAL_SECONDS).contains(&seconds) {
        Ok(())
    } else {
        Err(Error::invalid(
            "interval_seconds",
            format!("interval_seconds must be between 1 and {}", timing::MAX_INTERVAL_SECONDS),
        ))
    }
}

fn check_retry_max(retry_max: u32) -> Result<u32, Error> {
    if retry_max <= MAX_RETRY {
        Ok(retry_max)
    } else {
        Err(Error::invalid("retry_max", format!("retry_max must be between 0 and {MAX_RETRY}")))
    }
}

fn check_timeout(seconds: u64) -> Result<u64, Error> {
    if (1..=timing::MAX_INTERVAL_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(Error::invalid(
            "timeout_seconds",
            format!("timeout_seconds must be between 1 and {}", timing::MAX_INTERVAL_SECONDS),
        ))
    }
}

fn check_payload(
    payload: serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let size = serde_json::Value::Object(payload.clone()).to_string().len();
    if size <= MAX_PAYLOAD_BYTES {
        Ok(payload)
    } else {
        Err(Error::invalid(
            "payload",
            format!("payload is {size} bytes serialized, at most {MAX_PAYLOAD_BYTES} are allowed"),
        ))
    }
}
