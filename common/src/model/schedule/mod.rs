//! The scheduled job: its record ([`Schedule`]), what users send to make or change one ([`input`]), and
//! the rules that move it from state to state ([`rules`]), all pure functions of the record and `now`.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Calendar, ExecutionId, ExecutionState, JobId, QueueName, Recurrence, from_millis, millis, serde_instant};
use crate::{Error, timing};

mod input;
mod rules;
#[cfg(test)]
mod tests;

pub use input::{
    DEFAULT_RETRY_MAX, DEFAULT_TIMEOUT_SECONDS, FIELD_ALIASES, MAX_PAYLOAD_BYTES, NewRun, NewSchedule, SchedulePatch,
};

string_enum! {
    /// Where a schedule is in its life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ScheduleStatus as "status" {
        Active = "active",
        Paused = "paused",
        Done = "done",
        Dead = "dead",
    }
}

string_enum! {
    /// What happens when an occurrence comes while another run of the same schedule is under way.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Overlap as "overlap" {
        /// The occurrence is skipped and counted in `missed_count`.
        #[default]
        Skip = "skip",
        /// One run follows right after the current one ends; further occurrences are skipped.
        BufferOne = "buffer_one",
        /// The next occurrence is enqueued when the current run starts, so runs may overlap.
        Allow = "allow",
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
    /// Came after the schedule had run `repeat_count` times (a PATCH lowered it below the runs made).
    RepeatsDone { repeat_count: u64 },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired { late } => {
                write!(f, "skipped: found {:.3} s after its due time, beyond the catch-up window", late.as_secs_f64())
            }
            Self::Overlap => f.write_str("skipped: another run of the schedule was under way"),
            Self::Ended => f.write_str("skipped: the schedule's end_at had passed"),
            Self::RepeatsDone { repeat_count } => {
                write!(f, "skipped: the schedule had already reached its repeat_count of {repeat_count}")
            }
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
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(required = true)]
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
    #[schema(required = true)]
    pub end_at: Option<Timestamp>,
    pub repeat_count: u64,
    pub retry_max: u32,
    pub timeout_seconds: u64,
    pub queue: QueueName,
    #[schema(value_type = Object)]
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// An occurrence found later than this after its due time is skipped; `None`: it runs once, at once.
    #[schema(required = true)]
    pub catchup_window_seconds: Option<u64>,
    pub overlap: Overlap,
    /// Up to this much random delay is added to each regular occurrence.
    pub jitter_seconds: u64,
    /// Where alerts about this schedule are POSTed too (dead, a run failed for good, recovered), beside the
    /// deployment's `RECUR_ALERT_WEBHOOK`.
    #[schema(required = true)]
    pub alert_webhook: Option<String>,
    pub status: ScheduleStatus,
    pub current_repeat: u64,
    pub current_retry: u32,
    /// Successful regular runs since creation or the last restart; `repeat_count` is compared with this.
    pub completed_repeats: u64,
    #[serde(with = "serde_instant::option")]
    #[schema(required = true)]
    pub next_run_at: Option<Timestamp>,
    #[serde(with = "serde_instant::option")]
    #[schema(required = true)]
    pub last_run_at: Option<Timestamp>,
    #[schema(required = true)]
    pub last_status: Option<ExecutionState>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(required = true)]
    pub last_execution_id: Option<ExecutionId>,
    pub run_count: u64,
    pub error_count: u64,
    /// Occurrences skipped: passed during a run or a retry, beyond the catch-up window, or overlapping.
    pub missed_count: u64,
    /// The one-shot an ad-hoc run (`POST /workflows/{id}/run`) runs under: built from its job, never stored.
    #[serde(skip)]
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
    /// Whether the stored record spells `live_job` out where it could be left out (it is the job the counters
    /// name): a record written before it was left out. The next write leaves it out.
    #[serde(skip)]
    pub live_job_spelled_out: bool,
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
        let from = self.counted_from(from);
        match self.status {
            ScheduleStatus::Done | ScheduleStatus::Dead => Vec::new(),
            ScheduleStatus::Active | ScheduleStatus::Paused => self.calendar().upcoming(from, count),
        }
    }

    /// Where [`Schedule::upcoming`] starts counting when asked from `from`: no occurrence comes before the
    /// schedule's start (`start_at`, or the anchor of its interval grid).
    pub fn counted_from(&self, from: Timestamp) -> Timestamp {
        from.max(self.calendar().not_before.unwrap_or(self.anchor_at))
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
        self.within_end(slot, now)
    }

    /// `slot`, unless `end_at` has passed it (or passes before `now`).
    fn within_end(&self, slot: Timestamp, now: Timestamp) -> Option<Timestamp> {
        self.end_at.is_none_or(|end| slot.max(now) <= end).then_some(slot)
    }

    /// A `run_at` schedule runs once: a `repeat_count` above 1 would promise runs that never come.
    fn check_repeat_count(&self) -> Result<(), Error> {
        match self.recurrence {
            Recurrence::Once { .. } if self.repeat_count > 1 => Err(Error::invalid(
                "repeat_count",
                format!(
                    "a run_at schedule runs once, so repeat_count {} cannot apply (leave it out, or send 0 with \
                     run_at); interval and cron schedules repeat",
                    self.repeat_count
                ),
            )),
            _ => Ok(()),
        }
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
    /// Occurrences before the schedule was created were never expected, so they are not counted as skipped
    /// (a `start_at` far in the past would otherwise count a grid's worth of them).
    fn slot_after(&self, slot: Timestamp, now: Timestamp, buffer: bool) -> (Option<(Timestamp, Timestamp)>, u64) {
        let calendar = self.calendar();
        let counted_from = slot.max(self.created_at);
        if buffer {
            let (_, latest) = calendar.between(slot, now + SignedDuration::from_millis(1));
            if let Some(latest) = latest.filter(|_| self.end_at.is_none_or(|end| now <= end)) {
                let passed = calendar.between(counted_from, now + SignedDuration::from_millis(1)).0;
                return (Some((latest, now)), passed.saturating_sub(1));
            }
        }
        match calendar.next(slot.max(now), false) {
            Some(next) => {
                let jitter = calendar.jitter(self.id, next, self.jitter_seconds);
                let due = self.end_at.map_or(next + jitter, |end| (next + jitter).min(end.max(next)));
                (Some((next, due)), calendar.between(counted_from, next).0)
            }
            None => (None, calendar.between(counted_from, now).0),
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

    /// A copy with `updated_at` set to `now`.
    fn touched(&self, now: Timestamp) -> Self {
        Self { updated_at: now, ..self.clone() }
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
