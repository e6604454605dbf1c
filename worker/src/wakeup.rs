//! Listens for what workers are told over pub/sub: wakes the claim loop early when an enqueue announces a
//! job due before its planned wake-up, and passes cancel requests to running executions.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use recur_common::store::{Signal, Store};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cancels::Cancels;

/// Listens until `shutdown` on one of `urls` (one server, or a cluster's nodes, any of which hears every
/// signal), resubscribing with backoff when the subscription drops, on the next URL in turn (so a cluster
/// node that failed is left for another).
pub async fn listen(
    store: Store,
    urls: Vec<String>,
    wake: Arc<Notify>,
    cancels: Arc<Cancels>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    for url in urls.iter().cycle() {
        if shutdown.is_cancelled() {
            return;
        }
        match store.subscribe_signals(url).await {
            Ok(messages) => {
                backoff = Duration::from_millis(100);
                // A job may have been enqueued while we were not subscribed. (A cancel sent meanwhile is
                // found at the next lease renewal.)
                wake.notify_one();
                let mut messages = std::pin::pin!(messages);
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(Signal::Wakeup) => wake.notify_one(),
                            Some(Signal::Cancel { execution, count_as_failure }) => {
                                cancels.request(&execution, count_as_failure);
                            }
                            None => break,
                        },
                        () = shutdown.cancelled() => return,
                    }
                }
                tracing::warn!("signal subscription closed; resubscribing");
            }
            Err(error) => tracing::warn!(error = %error, "cannot subscribe to signals; retrying in {backoff:?}"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
