//! Runs the reconciler (`docs/architecture.md`) every `RECUR_RECONCILE_SECONDS`; the first pass runs at start-up.
//! Periodic passes are shared: one worker per interval takes each shard's turn, and with a turn raises the
//! alerts for jobs that have waited too long for a handler.

use std::{sync::Arc, time::Duration};

use recur_common::{model::JobId, store::Store};
use tokio_util::sync::CancellationToken;

use crate::{alerts::Alerts, metrics::Metrics};

/// How often passes run, and how long a job may wait for a handler before it raises an alert.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub every: Duration,
    pub handler_wait_alert: Duration,
}

/// Reconciles every `cadence.every` until `shutdown`, skipping ticks missed while a pass ran.
pub async fn run(store: Store, cadence: Cadence, metrics: Arc<Metrics>, alerts: Alerts, shutdown: CancellationToken) {
    let every = cadence.every;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let pass = match store.take_reconciler_turns(every).await {
                    Ok(shards) if shards.is_empty() => Ok(()),
                    Ok(shards) => pass(&store, &shards, cadence, &metrics, &alerts).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = pass {
                    metrics.redis_error("reconcile");
                    tracing::warn!(error = %error, "reconciler pass failed; retrying at the next tick");
                }
            }
            () = shutdown.cancelled() => return,
        }
    }
}

async fn pass(
    store: &Store,
    shards: &[usize],
    cadence: Cadence,
    metrics: &Metrics,
    alerts: &Alerts,
) -> recur_common::Result<()> {
    metrics.reconciled(&store.reconcile_shards(shards).await?);
    for wait in store.review_handler_waits(cadence.handler_wait_alert).await? {
        tracing::warn!(job.id = %wait.job_id, "job {} has waited since {} for a live worker of queue {:?} that \
            offers the handler {:?}", wait.job_id, wait.since, wait.queue, wait.handler);
        // A schedule's own webhook hears of its job too; an ad-hoc run has no schedule.
        let schedule = match wait.job_id.parse::<JobId>() {
            Ok(job) => match store.inspect().schedule(job.schedule()).await {
                Ok(schedule) => Some(schedule),
                Err(recur_common::Error::NotFound { .. }) => None,
                Err(error) => return Err(error),
            },
            Err(_) => None,
        };
        alerts.on_handler_wait(&wait, schedule.as_ref().and_then(|schedule| schedule.alert_webhook.as_deref()));
    }
    Ok(())
}
