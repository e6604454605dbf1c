//! Tells operators this worker is alive (`recur-worker inspect` lists it) and what handlers it offers, and
//! warns when this machine's clock is off Redis's.

use std::time::Duration;

use std::sync::Arc;

use jiff::SignedDuration;
use recur_common::{model::rfc3339, store::Store};
use tokio_util::sync::CancellationToken;

use crate::{Settings, metrics::Metrics};

/// How far a worker's clock may be off Redis's before it says so: each worker judges due times and leases
/// by its own clock.
const CLOCK_SKEW_REPORTED: SignedDuration = SignedDuration::from_secs(1);

/// Records a heartbeat every third of the lease until `shutdown`, then forgets the worker.
pub async fn run(
    store: Store,
    settings: Settings,
    handlers: Vec<String>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let every = settings.lease / 3;
    let horizon = (settings.lease * 2).max(Duration::from_secs(30));
    let started_at = rfc3339(store.clock().now());
    let queues = settings.queues.iter().map(|queue| queue.as_str()).collect::<Vec<_>>().join(",");
    let mut description = vec![
        ("queues", queues),
        ("concurrency", settings.concurrency.to_string()),
        // Read when a workflow calling a handler is saved: some live worker must offer it.
        ("handlers", handlers.join(",")),
        ("pid", std::process::id().to_string()),
        ("started_at", started_at),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
    ];
    let mut skew_reported = false;
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                match store.record_worker_heartbeat(&settings.worker_id, &description, horizon).await {
                    Ok(skew) => {
                        metrics.clock_skew(skew);
                        let warning = clock_skew_warning(skew, settings.lease);
                        match (&warning, skew_reported) {
                            (Some(warning), false) => tracing::warn!(clock_skew_ms = skew.as_millis(), "{warning}"),
                            (None, true) => tracing::info!(clock_skew_ms = skew.as_millis(),
                                "this machine's clock is back within {CLOCK_SKEW_REPORTED:#} of Redis's"),
                            _ => {}
                        }
                        skew_reported = warning.is_some();
                        // Shown with the worker (`recur-worker inspect`, `GET /status`) from the next heartbeat.
                        description.retain(|(name, _)| *name != "clock_skew_ms");
                        description.push(("clock_skew_ms", skew.as_millis().to_string()));
                    }
                    Err(error) => {
                        metrics.redis_error("heartbeat");
                        tracing::warn!(error = %error, "heartbeat failed");
                    }
                }
            }
            () = shutdown.cancelled() => break,
        }
    }
    if let Err(error) = store.remove_worker(&settings.worker_id).await {
        tracing::warn!(error = %error, "could not remove the worker's heartbeat on shutdown");
    }
}

/// What to say of this machine's clock, `skew` ahead of Redis's (behind when negative), with leases of
/// `lease`: nothing within [`CLOCK_SKEW_REPORTED`].
fn clock_skew_warning(skew: SignedDuration, lease: Duration) -> Option<String> {
    if skew.abs() < CLOCK_SKEW_REPORTED {
        return None;
    }
    let (off, way, early) = (skew.abs(), if skew.is_negative() { "behind" } else { "ahead of" }, !skew.is_negative());
    let mut warning = format!(
        "this machine's clock is {off:#} {way} Redis's: this worker starts jobs {off:#} {} and judges leases by \
         it; keep every machine's clock in sync (NTP)",
        if early { "early" } else { "late" }
    );
    // Another worker's lease, renewed a third of the way through, looks expired to a clock this far ahead.
    let lease_margin = SignedDuration::try_from(lease * 2 / 3).unwrap_or(SignedDuration::MAX);
    if early && off >= lease_margin {
        warning.push_str(&format!(
            "; two thirds of the lease ({lease_margin:#}) or more ahead, it sees the leases of jobs other \
             workers are running as expired and runs those jobs again"
        ));
    }
    Some(warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_off_by_a_second_or_more_is_reported_with_what_it_does() {
        let lease = Duration::from_secs(30);
        assert_eq!(clock_skew_warning(SignedDuration::from_millis(999), lease), None);
        assert_eq!(clock_skew_warning(SignedDuration::from_millis(-999), lease), None);
        let behind = clock_skew_warning(SignedDuration::from_millis(-2_500), lease).unwrap();
        assert!(
            behind
                .starts_with("this machine's clock is 2s 500ms behind Redis's: this worker starts jobs 2s 500ms late"),
            "{behind}"
        );
        let ahead = clock_skew_warning(SignedDuration::from_secs(3), lease).unwrap();
        assert!(
            ahead.contains("3s ahead of Redis's")
                && ahead.contains("3s early")
                && !ahead.contains("runs those jobs again"),
            "{ahead}"
        );
        let far_ahead = clock_skew_warning(SignedDuration::from_secs(20), lease).unwrap();
        assert!(far_ahead.ends_with("two thirds of the lease (20s) or more ahead, it sees the leases of jobs other workers are running as expired and runs those jobs again"), "{far_ahead}");
    }
}
