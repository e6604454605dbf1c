use std::{collections::HashMap, fmt, str::FromStr};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Calendar, CronRule, ExecutionId, ExecutionState, JobId, QueueName, Recurrence, from_millis, millis, serde_instant,
};
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

/// What happens when an occurrence comes while another run of the same schedule is under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The occurrence is skipped and counted in `missed_count`.
    #[default]
    Skip,
    /// One run follows right after the current one ends; further occurrences are skipped.
    BufferOne,
    /// The next occurrence is enqueued when the current run starts, so runs may overlap.
    Allow,
}

impl Overlap {
    /// The one string form, used in Redis and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::BufferOne => "buffer_one",
            Self::Allow => "allow",
        }
    }
}

impl FromStr for Overlap {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        [Self::Skip, Self::BufferOne, Self::Allow].into_iter().find(|overlap| overlap.as_str() == text).ok_or_else(
            || Error::invalid("overlap", format!("overlap must be skip, buffer_one or allow, not {text:?}")),
        )
    }
}

/// Why an occurrence was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Found later than `catchup_window_seconds` after its due time.
    Expired { late: SignedDuration },
    /// Came while another run of the schedule was under way (overlap `skip`).
    Overlap,
    /// Would have started after the schedule's `end_at`.
    Ended,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired { late } => {
                write!(f, "skipped: found {:.3} s after its due time, beyond the catch-up window", late.as_secs_f64())
            }
            Self::Overlap => f.write_str("skipped: another run of the schedule was under way"),
            Self::Ended => f.write_str("skipped: the schedule's end_at had passed"),
        }
    }
}

/// Whether a job about to start runs or is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Run,
    Skip(SkipReason),
}

/// A scheduled job: when to run which workflow, how often, how many times, and how to retry.
///
/// The serialized form is the API's. The `#[serde(skip)]` fields are bookkeeping kept in Redis only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub trigger_node_id: Option<String>,
    pub workflow_id: Uuid,
    /// Serialized as `interval_seconds`, `cron`, `timezone` and `run_at`, the ones that do not apply `null`.
    #[serde(flatten)]
    pub recurrence: Recurrence,
    /// No occurrence before this; slot 0 of an interval grid.
    #[serde(with = "serde_instant")]
    pub start_at: Timestamp,
    /// No run starts after this; the schedule is then `done`.
    #[serde(with = "serde_instant::option")]
    pub end_at: Option<Timestamp>,
    pub repeat_count: u64,
    pub retry_max: u32,
    pub timeout_seconds: u64,
    pub queue: QueueName,
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// An occurrence found later than this after its due time is skipped; `None`: it runs once, at once.
    pub catchup_window_seconds: Option<u64>,
    pub overlap: Overlap,
    /// Up to this much random delay is added to each regular occurrence.
    pub jitter_seconds: u64,
    pub status: ScheduleStatus,
    pub current_repeat: u64,
    pub current_retry: u32,
    /// Successful regular runs since creation or the last restart; `repeat_count` is compared with this.
    pub completed_repeats: u64,
    #[serde(with = "serde_instant::option")]
    pub next_run_at: Option<Timestamp>,
    #[serde(with = "serde_instant::option")]
    pub last_run_at: Option<Timestamp>,
    pub last_status: Option<ExecutionState>,
    pub last_error: Option<String>,
    pub last_execution_id: Option<ExecutionId>,
    pub run_count: u64,
    pub error_count: u64,
    /// Occurrences skipped: passed during a run or a retry, beyond the catch-up window, or overlapping.
    pub missed_count: u64,
    /// An ad-hoc run (`POST /workflows/{id}/run`): a one-shot schedule kept out of the schedule listings,
    /// that cannot be changed, and that expires with its execution.
    pub ad_hoc: bool,
    #[serde(with = "serde_instant")]
    pub created_at: Timestamp,
    #[serde(with = "serde_instant")]
    pub updated_at: Timestamp,
    /// Bumped by every planned write; scripts refuse a write planned from an older revision.
    #[serde(skip)]
    pub rev: u64,
    /// Slot 0 of the fixed-rate grid: `start_at`, or the instant of the last re-plan (resume, patch).
    #[serde(skip)]
    pub anchor_at: Timestamp,
    /// The occurrence the live job (and its retries) runs for.
    #[serde(skip)]
    pub slot_at: Option<Timestamp>,
    /// `current_repeat` at creation or the last restart: with overlap `allow`, occurrences are planned until
    /// `repeat_count` of them have started since then.
    #[serde(skip)]
    pub repeat_base: u64,
    /// The regular job that is delayed, ready or running, if any.
    #[serde(skip)]
    pub live_job: Option<JobId>,
    /// The backfill job enqueued or running; the rest wait in the schedule's backfill list.
    #[serde(skip)]
    pub backfill_job: Option<JobId>,
    /// Regular and manual runs under way, counted by the job scripts (never planned in Rust).
    #[serde(skip)]
    pub running_jobs: u64,
    /// A manual run waiting for the current run to end (overlap `buffer_one`), kept by the job scripts.
    #[serde(skip)]
    pub buffered_job: Option<JobId>,
}

/// The body of `POST /schedules` (and of a preview). Pipelit's field names are accepted as aliases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    pub catchup_window_seconds: Option<u64>,
    pub overlap: Option<Overlap>,
    pub jitter_seconds: Option<u64>,
}

/// The body of `PATCH /schedules/{id}`: every field optional; status changes go through pause, resume and
/// restart. Setting one of `interval_seconds`, `cron` or `run_at` switches the schedule to that kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub catchup_window_seconds: Option<Option<u64>>,
    pub overlap: Option<Overlap>,
    pub jitter_seconds: Option<u64>,
}

impl SchedulePatch {
    /// Whether the patch changes when runs happen.
    fn retimes(&self) -> bool {
        self.interval_seconds.is_some()
            || self.cron.is_some()
            || self.timezone.is_some()
            || self.run_at.is_some()
            || self.start_at.is_some()
            || self.end_at.is_some()
            || self.jitter_seconds.is_some()
    }
}

/// Tells a field set to `null` (`Some(None)`) from a field left out (`None`).
fn explicit_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The recurrence named by exactly one of `interval_seconds`, `cron` (with `timezone`) and `run_at`.
fn recurrence_from(
    interval_seconds: Option<u64>,
    cron: Option<&str>,
    timezone: Option<&str>,
    run_at: Option<Timestamp>,
) -> Result<Recurrence, Error> {
    if timezone.is_some() && cron.is_none() {
        return Err(Error::invalid("timezone", "timezone applies only to a cron schedule"));
    }
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
            None => format!("{workflow_name}-{}", &id.simple().to_string()[..8]),
        };
        let start_at = self.start_at.unwrap_or(match recurrence {
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
            end_at: self.end_at,
            repeat_count: self.repeat_count.unwrap_or(0),
            retry_max: check_retry_max(self.retry_max.unwrap_or(3))?,
            timeout_seconds: check_seconds("timeout_seconds", self.timeout_seconds.unwrap_or(600), 1)?,
            queue: QueueName::parse(self.queue.as_deref().unwrap_or("default"))?,
            payload: check_payload(self.payload.unwrap_or_default())?,
            catchup_window_seconds: self
                .catchup_window_seconds
                .map(|seconds| check_seconds("catchup_window_seconds", seconds, 0))
                .transpose()?,
            overlap: self.overlap.unwrap_or_default(),
            jitter_seconds: check_seconds("jitter_seconds", self.jitter_seconds.unwrap_or(0), 0)?,
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
            backfill_job: None,
            running_jobs: 0,
            buffered_job: None,
            ad_hoc: false,
        };
        let slot = schedule.first_slot(start_at, now).ok_or_else(|| schedule.never_fires())?;
        schedule.plan_slot(slot, now);
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

    /// The occurrences of this schedule: its recurrence within its bounds.
    pub fn calendar(&self) -> Calendar<'_> {
        let not_before = match self.recurrence {
            Recurrence::Interval { .. } => None,
            Recurrence::Cron(_) | Recurrence::Once { .. } => Some(self.start_at),
        };
        Calendar { recurrence: &self.recurrence, anchor: self.anchor_at, not_before, end_at: self.end_at }
    }

    /// Up to `count` occurrences from `from`, the same ones the runs are planned on (without jitter); none
    /// for a schedule that is `done` or `dead`.
    pub fn upcoming(&self, from: Timestamp, count: usize) -> Vec<Timestamp> {
        match self.status {
            ScheduleStatus::Done | ScheduleStatus::Dead => Vec::new(),
            ScheduleStatus::Active | ScheduleStatus::Paused => self.calendar().upcoming(from, count),
        }
    }

    /// Up to `limit` occurrences of the rule from `from` to `to` (both included), ignoring `start_at` and
    /// `end_at` and extending an interval grid backwards: the occurrences a backfill runs.
    pub fn occurrences_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> Vec<Timestamp> {
        let mut anchor = self.anchor_at;
        if let (Recurrence::Interval { seconds }, true) = (&self.recurrence, from < anchor) {
            let interval_ms = timing::seconds(*seconds).as_millis().max(1);
            let steps = (anchor.duration_since(from).as_millis() + interval_ms - 1) / interval_ms;
            anchor = from_millis(i64::try_from(i128::from(millis(anchor)) - steps * interval_ms).unwrap_or(i64::MIN));
        }
        let calendar = Calendar { recurrence: &self.recurrence, anchor, not_before: None, end_at: Some(to) };
        calendar.upcoming(from, limit)
    }

    /// The first occurrence of a fresh plan made at `now`: an interval grid re-anchored at `anchor`, or the
    /// next cron match, or the one-shot time (at once if it has passed). `None` when nothing can run before
    /// `end_at`.
    fn first_slot(&mut self, anchor: Timestamp, now: Timestamp) -> Option<Timestamp> {
        self.anchor_at = anchor;
        let slot = match self.recurrence {
            Recurrence::Interval { .. } => Some(anchor),
            Recurrence::Cron(_) => self.calendar().next(now, true),
            // A one-shot time that has passed runs at once.
            Recurrence::Once { at } => Some(at).filter(|at| *at >= self.start_at),
        }?;
        self.end_at.is_none_or(|end| slot.max(now) <= end).then_some(slot)
    }

    fn never_fires(&self) -> Error {
        let field = match self.recurrence {
            _ if self.end_at.is_some() => "end_at",
            Recurrence::Interval { .. } => "start_at",
            Recurrence::Cron(_) => "cron",
            Recurrence::Once { .. } => "run_at",
        };
        let code = if field == "cron" { "invalid_cron" } else { "validation_error" };
        Error::invalid_as(
            code,
            field,
            match self.end_at {
                Some(end) => format!("the schedule has no occurrence before end_at {end}; it would never run"),
                None => "the schedule has no occurrence after start_at; it would never run".to_string(),
            },
        )
    }

    /// Points the live job at the occurrence `slot`, due at the slot plus its jitter (at once if that has
    /// passed), never after `end_at`.
    fn plan_slot(&mut self, slot: Timestamp, now: Timestamp) {
        let mut due = slot + self.calendar().jitter(self.id, slot, self.jitter_seconds);
        if let Some(end) = self.end_at {
            due = due.min(end.max(slot));
        }
        self.slot_at = Some(slot);
        self.next_run_at = Some(due.max(now));
        self.live_job = Some(self.current_job());
    }

    /// The occurrence to run after the one at `slot` once a run ends at `now`, its due time, and how many
    /// occurrences were skipped. With `buffer`, an occurrence that passed meanwhile runs at once.
    fn slot_after(&self, slot: Timestamp, now: Timestamp, buffer: bool) -> (Option<(Timestamp, Timestamp)>, u64) {
        let calendar = self.calendar();
        if buffer {
            let (passed, latest) = calendar.between(slot, now + SignedDuration::from_millis(1));
            if let Some(latest) = latest.filter(|_| self.end_at.is_none_or(|end| now <= end)) {
                return (Some((latest, now)), passed - 1);
            }
        }
        match calendar.next(slot.max(now), false) {
            Some(next) => {
                let jitter = calendar.jitter(self.id, next, self.jitter_seconds);
                let due = self.end_at.map_or(next + jitter, |end| (next + jitter).min(end.max(next)));
                (Some((next, due)), calendar.between(slot, next).0)
            }
            None => (None, calendar.between(slot, now).0),
        }
    }

    /// The delay base for retries: the interval, or for a cron the gap from the occurrence to the next one,
    /// or one minute for a one-shot run.
    fn retry_base_seconds(&self) -> u64 {
        match self.recurrence {
            Recurrence::Interval { seconds } => seconds,
            Recurrence::Cron(_) => self
                .slot_at
                .and_then(|slot| self.calendar().gap_after(slot))
                .and_then(|gap| u64::try_from(gap.as_secs()).ok())
                .unwrap_or(60)
                .max(1),
            Recurrence::Once { .. } => 60,
        }
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

    /// The schedule after `resume` at `now`: an interval schedule's current job is due one interval from now;
    /// a cron schedule's at its next match; a one-shot run at its time, or at once if that has passed.
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
        next.replan(now, self.fresh_anchor(now))?;
        Ok(next)
    }

    /// The schedule after `restart` at `now` from `done` or `dead`: active again with its retry counter and
    /// `repeat_count` progress reset. Job ids go on counting upward, so no id is ever reused.
    pub fn restarted(&self, now: Timestamp) -> Result<Self, Error> {
        if !matches!(self.status, ScheduleStatus::Done | ScheduleStatus::Dead) {
            return Err(Error::Conflict(format!(
                "schedule {} is {}, only a done or dead schedule can be restarted",
                self.id,
                self.status.as_str()
            )));
        }
        let mut next = self.touched(now);
        next.status = ScheduleStatus::Active;
        next.current_repeat += 1;
        next.repeat_base = next.current_repeat;
        next.current_retry = 0;
        next.completed_repeats = 0;
        next.live_job = None;
        next.replan(now, self.fresh_anchor(now))?;
        Ok(next)
    }

    /// The anchor of a fresh interval grid planned at `now`: one interval from now.
    fn fresh_anchor(&self, now: Timestamp) -> Timestamp {
        match self.recurrence {
            Recurrence::Interval { seconds } => timing::after_seconds(now, seconds),
            Recurrence::Cron(_) | Recurrence::Once { .. } => self.anchor_at,
        }
    }

    /// Plans the current job afresh at `now`. A job still running keeps the live slot: it plans the next run
    /// from the new settings when it ends.
    fn replan(&mut self, now: Timestamp, anchor: Timestamp) -> Result<(), Error> {
        let slot = self.first_slot(anchor, now).ok_or_else(|| {
            Error::Conflict(format!(
                "schedule {} has no occurrence left before its end_at; PATCH end_at to extend it",
                self.id
            ))
        })?;
        match self.live_job {
            Some(_) => self.next_run_at = Some(slot.max(now)),
            None => self.plan_slot(slot, now),
        }
        Ok(())
    }

    /// The schedule after `patch` at `now`. Timing changes of an active schedule re-plan its pending job.
    pub fn patched(&self, patch: SchedulePatch, now: Timestamp) -> Result<Self, Error> {
        let mut next = self.touched(now);
        let retimed = patch.retimes();
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
            next.timeout_seconds = check_seconds("timeout_seconds", timeout_seconds, 1)?;
        }
        if let Some(queue) = patch.queue {
            next.queue = QueueName::parse(&queue)?;
        }
        if let Some(payload) = patch.payload {
            next.payload = check_payload(payload)?;
        }
        if let Some(window) = patch.catchup_window_seconds {
            next.catchup_window_seconds = window.map(|s| check_seconds("catchup_window_seconds", s, 0)).transpose()?;
        }
        if let Some(overlap) = patch.overlap {
            next.overlap = overlap;
        }
        if let Some(jitter_seconds) = patch.jitter_seconds {
            next.jitter_seconds = check_seconds("jitter_seconds", jitter_seconds, 0)?;
        }
        if let Some(end_at) = patch.end_at {
            next.end_at = end_at;
        }
        let kind_given = patch.interval_seconds.is_some() || patch.cron.is_some() || patch.run_at.is_some();
        if kind_given || patch.timezone.is_some() {
            let (cron, timezone) = match (&self.recurrence, patch.cron.as_deref(), patch.timezone.as_deref()) {
                // A new time zone alone re-reads the current expression in it.
                (Recurrence::Cron(rule), None, Some(zone)) if !kind_given => (Some(rule.expression()), Some(zone)),
                (_, cron, zone) => (cron, zone),
            };
            next.recurrence = recurrence_from(patch.interval_seconds, cron, timezone, patch.run_at)?;
        }
        if let Some(start_at) = patch.start_at {
            next.start_at = start_at;
        } else if let (true, Recurrence::Once { at }) = (patch.run_at.is_some(), &next.recurrence) {
            next.start_at = *at;
        }
        if retimed {
            let anchor = match patch.start_at {
                Some(start_at) => start_at,
                None => next.fresh_anchor(now),
            };
            let slot = next.first_slot(anchor, now).ok_or_else(|| next.never_fires())?;
            if next.status == ScheduleStatus::Active {
                next.plan_slot(slot, now);
                next.live_job = self.live_job.or(next.live_job);
            }
        }
        Ok(next)
    }

    /// Whether the job `job`, due at `due`, runs when a worker starts it at `now` (or when the reconciler finds
    /// it pending), judged on this record as it was before the start.
    pub fn admission(&self, job: &JobId, due: Timestamp, now: Timestamp) -> Admission {
        let overlapping = self.running_jobs > 0 && self.overlap == Overlap::Skip;
        match job {
            JobId::Backfill { .. } => Admission::Run,
            JobId::Manual { .. } if overlapping => Admission::Skip(SkipReason::Overlap),
            JobId::Manual { .. } => Admission::Run,
            JobId::Regular { .. } if self.live_job != Some(*job) => Admission::Run,
            JobId::Regular { retry, .. } => {
                let late = now.duration_since(due);
                if self.end_at.is_some_and(|end| now > end) {
                    Admission::Skip(SkipReason::Ended)
                } else if *retry == 0
                    && self.catchup_window_seconds.is_some_and(|window| late > timing::seconds(window))
                {
                    Admission::Skip(SkipReason::Expired { late })
                } else if overlapping {
                    Admission::Skip(SkipReason::Overlap)
                } else {
                    Admission::Run
                }
            }
        }
    }

    /// With overlap `allow`, the schedule after its live job `job` started at `now`: the next occurrence is
    /// planned at once. `None` when nothing changes.
    pub fn advanced(&self, job: &JobId, now: Timestamp) -> Option<Self> {
        if self.overlap != Overlap::Allow || self.status != ScheduleStatus::Active || self.live_job != Some(*job) {
            return None;
        }
        let mut next = self.touched(now);
        next.current_repeat += 1;
        next.current_retry = 0;
        let slot = self.slot_at.unwrap_or(now);
        let (mut planned, missed) = next.slot_after(slot, now, false);
        if next.repeat_count > 0 && next.current_repeat - next.repeat_base >= next.repeat_count {
            planned = None;
        }
        next.missed_count += missed;
        next.live_job = None;
        next.next_run_at = None;
        if let Some((slot, due)) = planned {
            next.slot_at = Some(slot);
            next.next_run_at = Some(due);
            next.live_job = Some(next.current_job());
        }
        Some(next)
    }

    /// The schedule after the job `job` (due at `due`) ended with `execution` at `now`, and the job to enqueue
    /// next, if any. This is where the timing rules of the spec (§3.2) and `docs/cron.md` live.
    pub fn settled(
        &self,
        job: &JobId,
        due: Timestamp,
        execution: ExecutionId,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Settlement {
        let mut next = self.touched(now);
        match outcome {
            Outcome::Succeeded | Outcome::Failed(_) | Outcome::Cancelled => {
                next.last_run_at = Some(now);
                next.last_execution_id = Some(execution);
                next.last_status = Some(outcome.state());
                next.last_error = outcome.error();
                match outcome {
                    Outcome::Succeeded => next.run_count += 1,
                    Outcome::Failed(_) => next.error_count += 1,
                    _ => {}
                }
            }
            Outcome::Skipped(_) => next.missed_count += 1,
        }
        let JobId::Regular { repeat, retry, .. } = *job else {
            return Settlement::only(next);
        };
        if self.live_job != Some(*job) {
            return match self.overlap {
                Overlap::Allow if self.status == ScheduleStatus::Active => {
                    next.settled_overlapping(repeat, retry, outcome)
                }
                _ => Settlement::only(next),
            };
        }
        next.live_job = None;
        next.next_run_at = None;
        // The occurrence this run was for: never after its due time (a PATCH during the run re-planned the
        // slot ahead of it, and the finish plans from the new grid).
        let slot = self.slot_at.map_or(due, |slot| slot.min(due));
        let planned = match outcome {
            // A cancelled run, unless the user asked to count it as a failure, moves on like a skipped one.
            Outcome::Succeeded | Outcome::Skipped(_) | Outcome::Cancelled => {
                next.current_repeat += 1;
                next.current_retry = 0;
                let buffer = self.overlap == Overlap::BufferOne && *outcome == Outcome::Succeeded;
                if *outcome == Outcome::Succeeded {
                    next.completed_repeats += 1;
                }
                if next.repeat_count > 0 && next.completed_repeats >= next.repeat_count {
                    None
                } else {
                    let (planned, missed) = next.slot_after(slot, now, buffer);
                    next.missed_count += missed;
                    planned
                }
            }
            Outcome::Failed(_) => {
                next.current_retry += 1;
                if next.current_retry > next.retry_max {
                    next.status = ScheduleStatus::Dead;
                    None
                } else {
                    let due = now + timing::retry_delay(self.retry_base_seconds(), next.current_retry);
                    next.end_at.is_none_or(|end| due <= end).then_some((slot, due))
                }
            }
        };
        match planned {
            Some((slot, due)) if next.status == ScheduleStatus::Active => {
                next.slot_at = Some(slot);
                next.next_run_at = Some(due);
                next.live_job = Some(next.current_job());
                let next_job = next.live_job.map(|id| (id, due));
                Settlement { schedule: next, next_job, dropped_job: None }
            }
            // A paused schedule keeps its counters moving but enqueues nothing until resumed.
            Some(_) => Settlement::only(next),
            None => {
                if next.status != ScheduleStatus::Dead {
                    next.status = ScheduleStatus::Done;
                }
                Settlement::only(next)
            }
        }
    }

    /// With overlap `allow`, the end of a run that is no longer the live job: each occurrence is retried on
    /// its own, and reaching `repeat_count`, or `dead`, drops the pending next occurrence.
    fn settled_overlapping(mut self, repeat: u64, retry: u32, outcome: &Outcome) -> Settlement {
        let finished = match outcome {
            Outcome::Succeeded => {
                self.completed_repeats += 1;
                let limit = self.repeat_count > 0 && self.completed_repeats >= self.repeat_count;
                // `running_jobs` still counts this run: 1 means no other run is under way.
                if limit || (self.live_job.is_none() && self.running_jobs <= 1) {
                    self.status = ScheduleStatus::Done;
                }
                self.status == ScheduleStatus::Done
            }
            Outcome::Skipped(_) | Outcome::Cancelled => false,
            Outcome::Failed(_) => {
                self.current_retry = retry + 1;
                if self.current_retry > self.retry_max {
                    self.status = ScheduleStatus::Dead;
                    true
                } else {
                    let due = self.updated_at + timing::retry_delay(self.retry_base_seconds(), self.current_retry);
                    let retry_job = JobId::regular(self.id, repeat, self.current_retry);
                    return Settlement { schedule: self, next_job: Some((retry_job, due)), dropped_job: None };
                }
            }
        };
        let dropped_job = if finished { self.live_job.take() } else { None };
        if finished {
            self.next_run_at = None;
        }
        Settlement { schedule: self, next_job: None, dropped_job }
    }

    /// A copy with `updated_at` set to `now`.
    fn touched(&self, now: Timestamp) -> Self {
        Self { updated_at: now, ..self.clone() }
    }

    /// The Redis hash form of the planned fields: every field as text; `None` fields are left out (and deleted
    /// on write). `running_jobs` and `buffered_job` belong to the job scripts and are never written from here.
    pub fn to_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let ms = |t: Timestamp| millis(t).to_string();
        let (interval_seconds, cron, timezone, run_at) = match &self.recurrence {
            Recurrence::Interval { seconds } => (Some(seconds.to_string()), None, None, None),
            Recurrence::Cron(rule) => {
                (None, Some(rule.expression().to_string()), Some(rule.timezone().to_string()), None)
            }
            Recurrence::Once { at } => (None, None, None, Some(ms(*at))),
        };
        vec![
            ("id", Some(self.id.to_string())),
            ("name", Some(self.name.clone())),
            ("description", Some(self.description.clone())),
            ("trigger_node_id", self.trigger_node_id.clone()),
            ("workflow_id", Some(self.workflow_id.to_string())),
            ("interval_seconds", interval_seconds),
            ("cron", cron),
            ("timezone", timezone),
            ("run_at", run_at),
            ("start_at", Some(ms(self.start_at))),
            ("end_at", self.end_at.map(ms)),
            ("repeat_count", Some(self.repeat_count.to_string())),
            ("retry_max", Some(self.retry_max.to_string())),
            ("timeout_seconds", Some(self.timeout_seconds.to_string())),
            ("queue", Some(self.queue.to_string())),
            ("payload", Some(serde_json::Value::Object(self.payload.clone()).to_string())),
            ("catchup_window_seconds", self.catchup_window_seconds.map(|s| s.to_string())),
            ("overlap", Some(self.overlap.as_str().to_string())),
            ("jitter_seconds", Some(self.jitter_seconds.to_string())),
            ("status", Some(self.status.as_str().to_string())),
            ("current_repeat", Some(self.current_repeat.to_string())),
            ("current_retry", Some(self.current_retry.to_string())),
            ("completed_repeats", Some(self.completed_repeats.to_string())),
            ("next_run_at", self.next_run_at.map(ms)),
            ("last_run_at", self.last_run_at.map(ms)),
            ("last_status", self.last_status.map(|s| s.as_str().to_string())),
            ("last_error", self.last_error.clone()),
            ("last_execution_id", self.last_execution_id.map(|id| id.to_string())),
            ("run_count", Some(self.run_count.to_string())),
            ("error_count", Some(self.error_count.to_string())),
            ("missed_count", Some(self.missed_count.to_string())),
            ("ad_hoc", self.ad_hoc.then(|| "1".to_string())),
            ("created_at", Some(ms(self.created_at))),
            ("updated_at", Some(ms(self.updated_at))),
            ("rev", Some(self.rev.to_string())),
            ("anchor_at", Some(ms(self.anchor_at))),
            ("slot_at", self.slot_at.map(ms)),
            ("repeat_base", Some(self.repeat_base.to_string())),
            ("live_job", self.live_job.map(|id| id.to_string())),
            ("backfill_job", self.backfill_job.map(|id| id.to_string())),
        ]
    }

    /// Reads the Redis hash form written by [`Schedule::to_fields`] and the job scripts.
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
        let recurrence = recurrence_from(
            optional(fields, "interval_seconds")?,
            fields.get("cron").map(String::as_str),
            fields.get("timezone").map(String::as_str),
            optional_instant("run_at")?,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            id: parse(fields, "id")?,
            name: parse(fields, "name")?,
            description: fields.get("description").cloned().unwrap_or_default(),
            trigger_node_id: fields.get("trigger_node_id").cloned(),
            workflow_id: parse(fields, "workflow_id")?,
            recurrence,
            start_at: instant("start_at")?,
            end_at: optional_instant("end_at")?,
            repeat_count: parse(fields, "repeat_count")?,
            retry_max: parse(fields, "retry_max")?,
            timeout_seconds: parse(fields, "timeout_seconds")?,
            queue: QueueName::parse(fields.get("queue").map_or("", String::as_str)).map_err(|e| e.to_string())?,
            payload,
            catchup_window_seconds: optional(fields, "catchup_window_seconds")?,
            overlap: optional(fields, "overlap")?.unwrap_or_default(),
            jitter_seconds: optional(fields, "jitter_seconds")?.unwrap_or(0),
            status: parse(fields, "status")?,
            current_repeat: parse(fields, "current_repeat")?,
            current_retry: parse(fields, "current_retry")?,
            completed_repeats: optional(fields, "completed_repeats")?.unwrap_or(0),
            next_run_at: optional_instant("next_run_at")?,
            last_run_at: optional_instant("last_run_at")?,
            last_status: optional(fields, "last_status")?,
            last_error: fields.get("last_error").cloned(),
            last_execution_id: optional(fields, "last_execution_id")?,
            run_count: parse(fields, "run_count")?,
            error_count: parse(fields, "error_count")?,
            missed_count: parse(fields, "missed_count")?,
            ad_hoc: fields.contains_key("ad_hoc"),
            created_at: instant("created_at")?,
            updated_at: instant("updated_at")?,
            rev: parse(fields, "rev")?,
            anchor_at: instant("anchor_at")?,
            slot_at: optional_instant("slot_at")?,
            repeat_base: optional(fields, "repeat_base")?.unwrap_or(0),
            live_job: optional(fields, "live_job")?,
            backfill_job: optional(fields, "backfill_job")?,
            running_jobs: optional::<i64>(fields, "running_jobs")?.map_or(0, |n| u64::try_from(n).unwrap_or(0)),
            buffered_job: optional(fields, "buffered_job")?,
        })
    }
}

/// How a job ended, as far as its schedule is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(String),
    /// Not run at all.
    Skipped(SkipReason),
    /// Stopped on request, not counted as a failure (`POST /executions/{id}/cancel`).
    Cancelled,
}

impl Outcome {
    /// The state its execution is closed with.
    pub fn state(&self) -> ExecutionState {
        match self {
            Self::Succeeded => ExecutionState::Succeeded,
            Self::Failed(_) => ExecutionState::Failed,
            Self::Skipped(_) => ExecutionState::Skipped,
            Self::Cancelled => ExecutionState::Cancelled,
        }
    }

    /// The error or reason its execution records.
    pub fn error(&self) -> Option<String> {
        match self {
            Self::Succeeded => None,
            Self::Failed(error) => Some(error.clone()),
            Self::Skipped(reason) => Some(reason.to_string()),
            Self::Cancelled => Some(CANCELLED.to_string()),
        }
    }
}

/// The error of an execution stopped on request.
pub const CANCELLED: &str = "cancelled on request";

/// A schedule's next state after a job ended, the job to enqueue with its due time, and a pending job to
/// drop (the next occurrence of an `allow` schedule that just became `done` or `dead`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub schedule: Schedule,
    pub next_job: Option<(JobId, Timestamp)>,
    pub dropped_job: Option<JobId>,
}

impl Settlement {
    fn only(schedule: Schedule) -> Self {
        Self { schedule, next_job: None, dropped_job: None }
    }
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

fn check_interval(seconds: u64) -> Result<u64, Error> {
    check_seconds("interval_seconds", seconds, 1)
}

fn check_retry_max(retry_max: u32) -> Result<u32, Error> {
    if retry_max <= MAX_RETRY {
        Ok(retry_max)
    } else {
        Err(Error::invalid("retry_max", format!("retry_max must be between 0 and {MAX_RETRY}")))
    }
}

/// A count of seconds within `min..=` one year, the bound that keeps every product of it inside jiff's range.
fn check_seconds(field: &'static str, seconds: u64, min: u64) -> Result<u64, Error> {
    if (min..=timing::MAX_INTERVAL_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(Error::invalid(field, format!("{field} must be between {min} and {}", timing::MAX_INTERVAL_SECONDS)))
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
