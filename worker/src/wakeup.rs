//! Wakes the claim loop early when an enqueue announces a job due before the loop's planned wake-up.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use recur_common::store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Listens for wake-ups, resubscribing with backoff when the subscription drops; every message
/// notifies `wake`.
pub async fn listen(store: Store, url: String, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match store.subscribe_wakeups(&url).await {
            Ok(messages) => {
                backoff = Duration::from_millis(100);
                // A job may have been enqueued while we were not subscribed.
                wake.notify_one();
                let mut messages = std::pin::pin!(messages);
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(_) => wake.notify_one(),
                            None => break,
                        },
                        () = shutdown.cancelled() => return,
                    }
                }
                tracing::warn!("wakeup subscription closed; resubscribing");
            }
            Err(error) => tracing::warn!(error = %error, "cannot subscribe to wakeups; retrying in {backoff:?}"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
