//! Takes over jobs abandoned by a crashed worker as soon as their lease ends, not only on a reconciler pass:
//! sleeps until the earliest lease of this worker's queues expires, then hands back what expired (closing
//! the abandoned attempt as `lease_expired`), which wakes idle workers to run it again.

use std::{sync::Arc, time::Duration};

use recur_common::{model::QueueName, store::Store};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How long after a lease's end the watcher looks, so that the lease has passed by Redis's milliseconds too.
const PAST_EXPIRY: Duration = Duration::from_millis(5);

/// Watches the leases of `queues` until `shutdown`. A lease renewed meanwhile is left alone (the hand-back
/// script checks it again), and several workers watching the same queue hand each job back once.
pub async fn run(
    store: Store,
    queues: Vec<QueueName>,
    lease: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut error_backoff = Duration::from_millis(100);
    loop {
        // With no job claimed, one claimed from now on cannot expire before a lease from now.
        let wait = match store.inspect().earliest_lease_expiry(&queues).await {
            Ok(expiry) => {
                error_backoff = Duration::from_millis(100);
                let now = store.clock().now();
                expiry.map_or(lease, |expiry| {
                    Duration::try_from(expiry.duration_since(now)).unwrap_or(Duration::ZERO) + PAST_EXPIRY
                })
            }
            Err(error) => {
                metrics.redis_error("recover");
                tracing::warn!(error = %error, "cannot read leases; retrying in {error_backoff:?}");
                error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                error_backoff
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait.min(lease)) => {}
            () = shutdown.cancelled() => return,
        }
        for queue in &queues {
            match store.requeue_expired_jobs(queue).await {
                Ok(0) => {}
                Ok(count) => {
                    metrics.leases_expired(queue.as_str(), count);
                    tracing::info!(queue.name = %queue, count, "took over {count} jobs whose lease expired");
                }
                Err(error) => {
                    metrics.redis_error("recover");
                    tracing::warn!(queue.name = %queue, error = %error, "could not hand back expired jobs");
                }
            }
        }
    }
}
