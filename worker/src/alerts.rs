//! Alerts to `RECUR_ALERT_WEBHOOK`: a JSON POST when a schedule goes dead, when a run fails for good (a
//! manual, backfill or ad-hoc run, which is not retried), and when a schedule that was failing succeeds again.
//! Sent from a queue of their own with retries and backoff, so a slow or dead webhook never holds up a job;
//! past [`QUEUE`] waiting alerts, new ones are dropped and logged.

use std::time::Duration;

use jiff::Timestamp;
use recur_common::{
    model::{ExecutionId, ExecutionState, JobId, Outcome, Schedule, ScheduleStatus, rfc3339},
    store::StartedJob,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Alerts waiting to be sent at most.
const QUEUE: usize = 1_000;
/// Deliveries of one alert at most, 1 s apart and doubling.
const ATTEMPTS: u32 = 5;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    /// The schedule failed its last retry and is `dead`.
    ScheduleDead,
    /// A run that is not retried (manual, backfill or ad-hoc) failed.
    RunFailed,
    /// The schedule's run succeeded after its last run had failed.
    ScheduleRecovered,
}

impl AlertEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::ScheduleDead => "schedule_dead",
            Self::RunFailed => "run_failed",
            Self::ScheduleRecovered => "schedule_recovered",
        }
    }

    /// The alert the end of run `execution` of `job` (due at `due`) at `now` raises, if any: `before` is the
    /// schedule as the run started, and the model's own settlement rule says what the run leaves it as.
    pub fn of_end(
        before: &Schedule,
        job: &JobId,
        (due, execution, now): (Timestamp, ExecutionId, Timestamp),
        outcome: &Outcome,
    ) -> Option<Self> {
        let after = before.settled(job, due, execution, outcome, now).schedule;
        match outcome {
            // An ad-hoc run is a one-shot without retries: its failure is the run's, not a schedule's death.
            Outcome::Failed(_) if before.ad_hoc || !matches!(job, JobId::Regular { .. }) => Some(Self::RunFailed),
            Outcome::Failed(_) if after.status == ScheduleStatus::Dead && before.status != ScheduleStatus::Dead => {
                Some(Self::ScheduleDead)
            }
            Outcome::Succeeded if before.last_status == Some(ExecutionState::Failed) => Some(Self::ScheduleRecovered),
            _ => None,
        }
    }
}

/// The sending side: cheap to clone, never waits.
#[derive(Clone)]
pub struct Alerts {
    queue: Option<mpsc::Sender<Value>>,
}

impl Alerts {
    /// Alerts posted to `webhook` by a task of their own, which ends when the last sender is dropped or the
    /// process exits; none without a webhook.
    pub fn start(webhook: Option<String>) -> Self {
        let Some(webhook) = webhook else { return Self { queue: None } };
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(webhook, waiting));
        Self { queue: Some(queue) }
    }

    /// Queues the alert that the end of `started` with `outcome` raises, if any.
    pub fn on_end(&self, started: &StartedJob, outcome: &Outcome) {
        let Some(queue) = &self.queue else { return };
        let execution = &started.execution;
        let when = (execution.scheduled_for, execution.id, Timestamp::now());
        let Some(event) = AlertEvent::of_end(&started.schedule, &started.job, when, outcome) else { return };
        let schedule = &started.schedule;
        let alert = json!({
            "event": event.as_str(),
            "schedule_id": schedule.id,
            "schedule_name": (!schedule.ad_hoc).then_some(&schedule.name),
            "workflow_id": schedule.workflow_id,
            "job_id": started.job.to_string(),
            "execution_id": execution.id.to_string(),
            "error": outcome.error(),
            "at": rfc3339(Timestamp::now()),
        });
        if queue.try_send(alert).is_err() {
            tracing::warn!(job.id = %started.job, "alert {} dropped: {QUEUE} alerts are waiting", event.as_str());
        }
    }
}

/// Posts each alert in order, retrying each with backoff.
async fn deliver(webhook: String, mut waiting: mpsc::Receiver<Value>) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(client) => client,
        Err(error) => return tracing::error!(error = %error, "cannot send alerts"),
    };
    loop {
        let Some(alert) = waiting.recv().await else { return };
        let mut pause = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let sent = client.post(&webhook).json(&alert).send().await.and_then(reqwest::Response::error_for_status);
            match sent {
                Ok(_) => break,
                Err(error) if attempt < ATTEMPTS => {
                    tracing::warn!(error = %recur_common::one_line(&error), "alert not delivered; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(error) => tracing::error!(error = %recur_common::one_line(&error),
                    "alert {} given up after {ATTEMPTS} attempts", alert["event"]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use recur_common::model::NewSchedule;
    use uuid::Uuid;

    use super::*;

    fn schedule(retry_max: u32) -> Schedule {
        let new: NewSchedule =
            serde_json::from_value(json!({"workflow_id": Uuid::nil(), "interval_seconds": 60, "retry_max": retry_max}))
                .unwrap();
        new.into_schedule(Uuid::now_v7(), "wf", "2026-12-01T00:00:00Z".parse().unwrap()).unwrap()
    }

    fn end(before: &Schedule, job: JobId, outcome: &Outcome) -> Option<AlertEvent> {
        let due = before.next_run_at.unwrap();
        AlertEvent::of_end(before, &job, (due, ExecutionId { job, attempt: 1 }, due), outcome)
    }

    #[test]
    fn alerts_fire_on_death_on_a_failed_run_that_is_not_retried_and_on_recovery_only() {
        let failed = Outcome::Failed("boom".to_string());
        let fresh = schedule(1);
        let job = fresh.live_job.unwrap();
        assert_eq!(end(&fresh, job, &failed), None, "a failure that will be retried is not an alert");
        let retrying = fresh
            .settled(
                &job,
                fresh.next_run_at.unwrap(),
                ExecutionId { job, attempt: 1 },
                &failed,
                fresh.next_run_at.unwrap(),
            )
            .schedule;
        let retry = retrying.live_job.unwrap();
        assert_eq!(end(&retrying, retry, &failed), Some(AlertEvent::ScheduleDead));
        assert_eq!(end(&retrying, retry, &Outcome::Succeeded), Some(AlertEvent::ScheduleRecovered));
        assert_eq!(end(&fresh, job, &Outcome::Succeeded), None);
        let manual = JobId::manual(fresh.id);
        assert_eq!(end(&fresh, manual, &failed), Some(AlertEvent::RunFailed));
    }
}
