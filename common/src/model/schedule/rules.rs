//! How a schedule moves: pause, resume, restart, patch, and what a job's start and end do to it. Every
//! rule is a pure function of the record and `now`; the store applies what it returns atomically.

use jiff::Timestamp;

use super::{
    Admission, Outcome, Overlap, Schedule, SchedulePatch, ScheduleStatus, Settlement, SkipReason,
    input::{
        check_description, check_instant, check_name, check_payload, check_retry_max, check_seconds, check_webhook,
        recurrence_from,
    },
};
use crate::{
    Error,
    model::{ExecutionId, JobId, QueueName, Recurrence},
    timing,
};

impl Schedule {
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
        if let Some(alert_webhook) = patch.alert_webhook {
            next.alert_webhook = alert_webhook.map(check_webhook).transpose()?;
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
            next.end_at = end_at.map(|at| check_instant("end_at", at)).transpose()?;
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
        // Only when the patch touches either: a record stored before the rule still takes other changes.
        if patch.repeat_count.is_some() || patch.run_at.is_some() {
            next.check_repeat_count()?;
        }
        if let Some(start_at) = patch.start_at {
            next.start_at = check_instant("start_at", start_at)?;
        } else if let (true, Recurrence::Once { at }) = (patch.run_at.is_some(), &next.recurrence) {
            next.start_at = *at;
        }
        // Only a timing that differs re-plans. A patch restating it (every `apply` of an unchanged file) must
        // not move the next run: an interval schedule re-applied more often than it runs would never run.
        let regridded = next.recurrence != self.recurrence || next.start_at != self.start_at;
        if regridded || next.end_at != self.end_at || next.jitter_seconds != self.jitter_seconds {
            let slot = match (regridded, self.slot_at) {
                // A new end or jitter keeps the grid and the occurrence planned: it moves no run to another slot.
                (false, Some(slot)) => next.within_end(slot, now),
                _ => {
                    let anchor = match patch.start_at {
                        Some(start_at) => start_at,
                        None => next.fresh_anchor(now),
                    };
                    next.first_slot(anchor, now)
                }
            };
            let slot = slot.ok_or_else(|| next.never_fires())?;
            if next.status == ScheduleStatus::Active {
                next.plan_slot(slot, now);
                next.live_job = self.live_job.or(next.live_job);
            }
        }
        // A patch that changes nothing leaves the record as it was, `updated_at` included.
        let unchanged = Self { updated_at: self.updated_at, ..next.clone() } == *self;
        Ok(if unchanged { self.clone() } else { next })
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
                if self.repeat_count > 0 && self.completed_repeats >= self.repeat_count {
                    Admission::Skip(SkipReason::RepeatsDone { repeat_count: self.repeat_count })
                } else if self.end_at.is_some_and(|end| now > end) {
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
    /// next, if any. This is where the timing rules of `docs/cron.md` live.
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
}
