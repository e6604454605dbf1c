//! Tells operators this worker is alive (`recur-worker inspect` lists it) and what handlers it offers.

use std::time::Duration;

use recur_common::{model::rfc3339, store::Store};
use tokio_util::sync::CancellationToken;

use crate::Settings;

/// Records a heartbeat every third of the lease until `shutdown`, then forgets the worker.
pub async fn run(store: Store, settings: Settings, handlers: Vec<String>, shutdown: CancellationToken) {
    let every = settings.lease / 3;
    let horizon = (settings.lease * 2).max(Duration::from_secs(30));
    let started_at = rfc3339(store.clock().now());
    let queues = settings.queues.iter().map(|queue| queue.as_str()).collect::<Vec<_>>().join(",");
    let description = [
        ("queues", queues),
        ("concurrency", settings.concurrency.to_string()),
        // Read when a workflow calling a handler is saved: some live worker must offer it.
        ("handlers", handlers.join(",")),
        ("pid", std::process::id().to_string()),
        ("started_at", started_at),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
    ];
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(error) = store.record_worker_heartbeat(&settings.worker_id, &description, horizon).await {
                    tracing::warn!(error = %error, "heartbeat failed");
                }
            }
            () = shutdown.cancelled() => break,
        }
    }
    if let Err(error) = store.remove_worker(&settings.worker_id).await {
        tracing::warn!(error = %error, "could not remove the worker's heartbeat on shutdown");
    }
}
