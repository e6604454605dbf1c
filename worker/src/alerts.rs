//! Alerts: a JSON POST to `RECUR_ALERT_WEBHOOK` and to the schedule's own `alert_webhook` when a schedule goes
//! dead, when a run fails for good (a manual, backfill or ad-hoc run, which is not retried), when a schedule
//! that was failing succeeds again, and when a job has waited past `RECUR_HANDLER_WAIT_ALERT_SECONDS` for a
//! worker offering a handler. Sent by tasks of their own with retries and backoff, so a slow or dead webhook
//! never holds up a job or another webhook; past [`QUEUE`] waiting alerts, new ones are dropped and logged.
//! Webhooks are reached under the egress policy of http steps (a schedule's webhook is user input).

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use recur_common::{
    inspect::HandlerWait,
    model::{ExecutionId, ExecutionState, JobId, Outcome, Schedule, ScheduleStatus, rfc3339},
    store::StartedJob,
};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::egress::{EgressPolicy, PolicyResolver, literal_address};

/// Alerts waiting to be sent at most.
const QUEUE: usize = 1_000;
/// Deliveries of one alert to one webhook at most, 1 s apart and doubling.
const ATTEMPTS: u32 = 5;
/// Webhooks being posted to at once at most.
const SENDING: usize = 16;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    /// The schedule failed its last retry and is `dead`.
    ScheduleDead,
    /// A run that is not retried (manual, backfill or ad-hoc) failed.
    RunFailed,
    /// The schedule's run succeeded after its last run had failed.
    ScheduleRecovered,
    /// A job has waited too long for a live worker that offers a handler its workflow calls.
    WaitingForHandler,
}

impl AlertEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::ScheduleDead => "schedule_dead",
            Self::RunFailed => "run_failed",
            Self::ScheduleRecovered => "schedule_recovered",
            Self::WaitingForHandler => "waiting_for_handler",
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
    /// The deployment's webhook (`RECUR_ALERT_WEBHOOK`), if any.
    webhook: Option<String>,
    queue: mpsc::Sender<(Vec<String>, Value)>,
}

impl Alerts {
    /// Alerts posted by tasks of their own, under `egress`, which end when the last sender is dropped or the
    /// process exits. `webhook` receives every alert; a schedule's own `alert_webhook` those about it.
    pub fn start(webhook: Option<String>, egress: Arc<EgressPolicy>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(waiting, egress));
        Self { webhook, queue }
    }

    /// Queues the alert that the end of `started` with `outcome` raises, if any.
    pub fn on_end(&self, started: &StartedJob, outcome: &Outcome) {
        let schedule = &started.schedule;
        let targets = self.targets(schedule.alert_webhook.as_deref());
        if targets.is_empty() {
            return;
        }
        let execution = &started.execution;
        let when = (execution.scheduled_for, execution.id, Timestamp::now());
        let Some(event) = AlertEvent::of_end(schedule, &started.job, when, outcome) else { return };
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
        self.send(targets, alert);
    }

    /// Queues the alert for a job waiting too long for a worker offering `wait.handler`, to the deployment's
    /// webhook and to `schedule_webhook`, its schedule's own.
    pub fn on_handler_wait(&self, wait: &HandlerWait, schedule_webhook: Option<&str>) {
        let targets = self.targets(schedule_webhook);
        if targets.is_empty() {
            return;
        }
        let alert = json!({
            "event": AlertEvent::WaitingForHandler.as_str(),
            "job_id": wait.job_id,
            "queue": wait.queue,
            "handler": wait.handler,
            "waiting_since": rfc3339(wait.since),
            "error": format!("no live worker of queue {:?} offers the handler {:?}", wait.queue, wait.handler),
            "at": rfc3339(Timestamp::now()),
        });
        self.send(targets, alert);
    }

    /// Where an alert about a schedule goes: the deployment's webhook and the schedule's own, if any.
    fn targets(&self, schedule_webhook: Option<&str>) -> Vec<String> {
        self.webhook.iter().map(String::as_str).chain(schedule_webhook).map(str::to_string).collect()
    }

    fn send(&self, targets: Vec<String>, alert: Value) {
        if self.queue.try_send((targets, alert)).is_err() {
            tracing::warn!("an alert was dropped: {QUEUE} alerts are waiting");
        }
    }
}

/// Posts each alert to each of its webhooks, [`SENDING`] at once, retrying each with backoff.
async fn deliver(mut waiting: mpsc::Receiver<(Vec<String>, Value)>, egress: Arc<EgressPolicy>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .dns_resolver(PolicyResolver(egress.clone()))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("recur/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => return tracing::error!(error = %error, "cannot send alerts"),
    };
    let sending = Arc::new(Semaphore::new(SENDING));
    while let Some((targets, alert)) = waiting.recv().await {
        let alert = Arc::new(alert);
        for webhook in targets {
            let Ok(permit) = sending.clone().acquire_owned().await else { return };
            let (client, egress, alert) = (client.clone(), egress.clone(), alert.clone());
            tokio::spawn(async move {
                post(&client, &egress, &webhook, &alert).await;
                drop(permit);
            });
        }
    }
}

async fn post(client: &reqwest::Client, egress: &EgressPolicy, webhook: &str, alert: &Value) {
    let event = &alert["event"];
    let url = reqwest::Url::parse(webhook).ok();
    // Webhook URLs often carry a token in their path or query: logs name the host only.
    let host = url.as_ref().and_then(reqwest::Url::host_str).unwrap_or("an unparsable URL").to_string();
    // A name is checked when it resolves; an address, here.
    if let Some(Err(refusal)) = url.as_ref().and_then(literal_address).map(|ip| egress.check(ip)) {
        return tracing::error!("alert {event} not sent to {host}: egress policy: {refusal}");
    }
    let mut pause = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        let sent = client.post(webhook).json(alert).send().await.and_then(reqwest::Response::error_for_status);
        match sent {
            Ok(_) => return,
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(error = %recur_common::one_line(&error.without_url()),
                    "alert {event} not delivered to {host}; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(error) => tracing::error!(error = %recur_common::one_line(&error.without_url()),
                "alert {event} to {host} given up after {ATTEMPTS} attempts"),
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
