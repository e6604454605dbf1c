//! Runs the reconciler (`docs/architecture.md`) every `RECUR_RECONCILE_SECONDS`; the first pass runs at start-up.
//! Periodic passes are shared: one worker per interval takes the turn.

use std::{sync::Arc, time::Duration};

use recur_common::store::Store;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Reconciles every `every` until `shutdown`, skipping ticks missed while a pass ran.
pub async fn run(store: Store, every: Duration, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let pass = match store.take_reconciler_turn(every).await {
                    Ok(true) => store.reconcile().await.map(|report| metrics.reconciled(&report)),
                    Ok(false) => Ok(()),
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
