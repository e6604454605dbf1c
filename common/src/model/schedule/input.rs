//! What users send to create or change a schedule, checked field by field into a [`Schedule`].

use jiff::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use super::{Overlap, Schedule, ScheduleStatus};
use crate::{
    Error,
    model::{CronRule, QueueName, Recurrence},
    timing,
};

/// Largest serialized payload a schedule may carry.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// How long a run may take when its schedule or request does not say.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 600;
/// How many times a failed run is retried when the schedule does not say.
pub const DEFAULT_RETRY_MAX: u32 = 3;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_RETRY: u32 = 100;
/// Longest cron expression accepted; real ones are a few dozen bytes.
const MAX_CRON_BYTES: usize = 1024;
/// The instants a schedule may name (`start_at`, `end_at`, `run_at`): from the Unix epoch to the start of year
/// 9999.
const INSTANTS: std::ops::RangeInclusive<Timestamp> = Timestamp::UNIX_EPOCH..=Timestamp::constant(253_370_764_800, 0);

/// `at`, if a schedule may name it as `field`.
pub(super) fn check_instant(field: &'static str, at: Timestamp) -> Result<Timestamp, Error> {
    if INSTANTS.contains(&at) {
        Ok(at)
    } else {
        let (earliest, latest) = (INSTANTS.start(), INSTANTS.end());
        Err(Error::invalid(field, format!("{field} must be between {earliest} and {latest}")))
    }
}

/// Pipelit's field names, accepted as aliases of ours in [`NewSchedule`] and [`SchedulePatch`] (the serde
/// attributes spell them; this list is what the API description adds, checked against them by a test).
pub const FIELD_ALIASES: &[(&str, &str)] =
    &[("total_repeats", "repeat_count"), ("max_retries", "retry_max"), ("trigger_payload", "payload")];

/// The body of `POST /schedules` (and of a preview). Pipelit's field names are accepted as aliases.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "nightly-report",
    "workflow_id": "0193a8f2-5c3e-7d41-9a6b-2f8e4c1d0b7a",
    "cron": "0 2 * * *",
    "timezone": "Europe/Berlin",
    "retry_max": 3,
    "queue": "reports",
    "payload": {"team": "billing"}
}))]
pub struct NewSchedule {
    pub name: Option<String>,
    pub description: Option<String>,
    pub trigger_node_id: Option<String>,
    pub workflow_id: Uuid,
    pub interval_seconds: Option<u64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub run_at: Option<Timestamp>,
    pub start_at: Option<Timestamp>,
    pub end_at: Option<Timestamp>,
    #[serde(alias = "total_repeats")]
    pub repeat_count: Option<u64>,
    #[serde(alias = "max_retries")]
    pub retry_max: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub queue: Option<String>,
    #[serde(alias = "trigger_payload")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    pub catchup_window_seconds: Option<u64>,
    pub overlap: Option<Overlap>,
    pub jitter_seconds: Option<u64>,
    /// An `http(s)://` URL alerts about this schedule are POSTed to, beside the deployment's webhook.
    pub alert_webhook: Option<String>,
}

/// The body of `PATCH /schedules/{id}`: every field optional; status changes go through pause, resume and
/// restart. Setting one of `interval_seconds`, `cron` or `run_at` switches the schedule to that kind.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"interval_seconds": 300, "end_at": null, "overlap": "buffer_one"}))]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub trigger_node_id: Option<Option<String>>,
    pub workflow_id: Option<Uuid>,
    pub interval_seconds: Option<u64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub run_at: Option<Timestamp>,
    pub start_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub end_at: Option<Option<Timestamp>>,
    #[serde(alias = "total_repeats")]
    pub repeat_count: Option<u64>,
    #[serde(alias = "max_retries")]
    pub retry_max: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub queue: Option<String>,
    #[serde(alias = "trigger_payload")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub catchup_window_seconds: Option<Option<u64>>,
    pub overlap: Option<Overlap>,
    pub jitter_seconds: Option<u64>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "explicit_null")]
    pub alert_webhook: Option<Option<String>>,
}

/// Tells a field set to `null` (`Some(None)`) from a field left out (`None`).
fn explicit_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The recurrence named by exactly one of `interval_seconds`, `cron` (with `timezone`) and `run_at`.
pub(super) fn recurrence_from(
    interval_seconds: Option<u64>,
    cron: Option<&str>,
    timezone: Option<&str>,
    run_at: Option<Timestamp>,
) -> Result<Recurrence, Error> {
    if timezone.is_some() && cron.is_none() {
        return Err(Error::invalid("timezone", "timezone applies only to a cron schedule"));
    }
    if let Some(expression) = cron.filter(|expression| expression.len() > MAX_CRON_BYTES) {
        let message = format!("cron is {} bytes long, at most {MAX_CRON_BYTES} are allowed", expression.len());
        return Err(Error::invalid_as("invalid_cron", "cron", message));
    }
    let run_at = run_at.map(|at| check_instant("run_at", at)).transpose()?;
    match (interval_seconds, cron, run_at) {
        (Some(seconds), None, None) => {
            check_interval(seconds)?;
            Ok(Recurrence::Interval { seconds })
        }
        (None, Some(expression), None) => {
            Ok(Recurrence::Cron(Box::new(CronRule::parse(expression, timezone.unwrap_or("UTC"))?)))
        }
        (None, None, Some(at)) => Ok(Recurrence::Once { at }),
        (None, None, None) => {
            Err(Error::invalid("interval_seconds", "one of interval_seconds, cron or run_at is required"))
        }
        (_, cron, _) => Err(Error::invalid(
            if cron.is_some() { "cron" } else { "run_at" },
            "set exactly one of interval_seconds, cron and run_at",
        )),
    }
}

impl NewSchedule {
    /// Checks every field and builds the schedule as created at `now`, with its first run planned.
    pub fn into_schedule(self, id: Uuid, workflow_name: &str, now: Timestamp) -> Result<Schedule, Error> {
        let recurrence =
            recurrence_from(self.interval_seconds, self.cron.as_deref(), self.timezone.as_deref(), self.run_at)?;
        let name = match self.name {
            Some(name) => check_name(name)?,
            // The end of the id: its start is a UUIDv7's timestamp, shared by schedules made together.
            None => format!("{workflow_name}-{}", &id.simple().to_string()[24..]),
        };
        let start_at = self.start_at.map(|at| check_instant("start_at", at)).transpose()?;
        let end_at = self.end_at.map(|at| check_instant("end_at", at)).transpose()?;
        let start_at = start_at.unwrap_or(match recurrence {
            Recurrence::Interval { seconds } => timing::after_seconds(now, seconds),
            Recurrence::Cron(_) => now,
            Recurrence::Once { at } => at,
        });
        let mut schedule = Schedule {
            id,
            name,
            description: check_description(self.description.unwrap_or_default())?,
            trigger_node_id: self.trigger_node_id,
            workflow_id: self.workflow_id,
            recurrence,
            start_at,
            end_at,
            repeat_count: self.repeat_count.unwrap_or(0),
            retry_max: check_retry_max(self.retry_max.unwrap_or(DEFAULT_RETRY_MAX))?,
            timeout_seconds: check_seconds(
                "timeout_seconds",
                self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
                1,
            )?,
            queue: QueueName::parse(self.queue.as_deref().unwrap_or("default"))?,
            payload: check_payload(self.payload.unwrap_or_default())?,
            catchup_window_seconds: self
                .catchup_window_seconds
                .map(|seconds| check_seconds("catchup_window_seconds", seconds, 0))
                .transpose()?,
            overlap: self.overlap.unwrap_or_default(),
            jitter_seconds: check_seconds("jitter_seconds", self.jitter_seconds.unwrap_or(0), 0)?,
            alert_webhook: self.alert_webhook.map(check_webhook).transpose()?,
            status: ScheduleStatus::Active,
            current_repeat: 0,
            current_retry: 0,
            completed_repeats: 0,
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
            slot_at: None,
            repeat_base: 0,
            live_job: None,
            live_job_spelled_out: false,
            backfill_job: None,
            running_jobs: 0,
            buffered_job: None,
            ad_hoc: false,
        };
        schedule.check_repeat_count()?;
        let slot = schedule.first_slot(start_at, now).ok_or_else(|| schedule.never_fires())?;
        schedule.plan_slot(slot, now);
        Ok(schedule)
    }
}

/// The body of `POST /workflows/{id}/run`: an ad-hoc run of a workflow, now or at `run_at`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"payload": {"invoice": 4711}, "queue": "default", "timeout_seconds": 60,
    "run_at": "2026-12-24T18:00:00Z"}))]
pub struct NewRun {
    /// The trigger's `payload`.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// The queue to run on (`default`).
    pub queue: Option<String>,
    pub timeout_seconds: Option<u64>,
    /// When to run (RFC 3339); now when left out or in the past. A one-shot job: it waits as a bare job, not
    /// a schedule, and a queued one can be cancelled.
    pub run_at: Option<Timestamp>,
}

impl NewRun {
    /// The one-shot schedule, due at `run_at` (or `now`), that carries an ad-hoc run of the workflow
    /// `workflow_name`: it runs once, with no retry, and is kept out of the schedule listings.
    pub fn into_schedule(
        self,
        id: Uuid,
        workflow_id: Uuid,
        workflow_name: &str,
        now: Timestamp,
    ) -> Result<Schedule, Error> {
        let new = NewSchedule {
            name: Some(format!("run-{workflow_name}")),
            description: Some(format!("ad-hoc run of workflow {workflow_name}")),
            trigger_node_id: None,
            workflow_id,
            interval_seconds: None,
            cron: None,
            timezone: None,
            run_at: Some(self.run_at.unwrap_or(now)),
            start_at: None,
            end_at: None,
            repeat_count: None,
            retry_max: Some(0),
            timeout_seconds: self.timeout_seconds,
            queue: self.queue,
            payload: self.payload,
            catchup_window_seconds: None,
            overlap: None,
            jitter_seconds: None,
            alert_webhook: None,
        };
        let mut schedule = new.into_schedule(id, workflow_name, now)?;
        schedule.ad_hoc = true;
        Ok(schedule)
    }
}

pub(super) fn check_name(name: String) -> Result<String, Error> {
    let chars = name.chars().count();
    if (1..=MAX_NAME_CHARS).contains(&chars) && !name.trim().is_empty() {
        Ok(name)
    } else {
        Err(Error::invalid("name", format!("name must be 1 to {MAX_NAME_CHARS} characters")))
    }
}

/// Longest `alert_webhook` accepted.
const MAX_WEBHOOK_BYTES: usize = 2048;

/// `url`, if it can be an alert webhook: `http(s)://` and a host, no spaces, at most 2 KiB.
pub(super) fn check_webhook(url: String) -> Result<String, Error> {
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or_default();
    let valid = url.len() <= MAX_WEBHOOK_BYTES
        && !host.is_empty()
        && !host.starts_with('/')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(url)
    } else {
        let message = format!("alert_webhook must be an http:// or https:// URL of at most {MAX_WEBHOOK_BYTES} bytes");
        Err(Error::invalid("alert_webhook", message))
    }
}

pub(super) fn check_description(description: String) -> Result<String, Error> {
    if description.chars().count() <= MAX_DESCRIPTION_CHARS {
        Ok(description)
    } else {
        Err(Error::invalid("description", format!("description must be at most {MAX_DESCRIPTION_CHARS} characters")))
    }
}

fn check_interval(seconds: u64) -> Result<u64, Error> {
    check_seconds("interval_seconds", seconds, 1)
}

pub(super) fn check_retry_max(retry_max: u32) -> Result<u32, Error> {
    if retry_max <= MAX_RETRY {
        Ok(retry_max)
    } else {
        Err(Error::invalid("retry_max", format!("retry_max must be between 0 and {MAX_RETRY}")))
    }
}

/// A count of seconds within `min..=` one year, the bound that keeps every product of it inside jiff's range.
pub(super) fn check_seconds(field: &'static str, seconds: u64, min: u64) -> Result<u64, Error> {
    if (min..=timing::MAX_INTERVAL_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(Error::invalid(field, format!("{field} must be between {min} and {}", timing::MAX_INTERVAL_SECONDS)))
    }
}

pub(super) fn check_payload(
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
