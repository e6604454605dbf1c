//! A worker's Prometheus metrics, served with its probes on `RECUR_METRICS_ADDR` (off when empty): what it
//! ran, how late and how long, what it took over, what the reconciler repaired, and Redis errors. Labels
//! are bounded: queue names, outcomes and kinds, never ids.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};
use recur_common::{
    inspect::RedisHealth,
    store::{ReconcileReport, Store},
};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    queue: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

type Histograms = Family<QueueLabel, Histogram, fn() -> Histogram>;

/// Every metric of one worker process.
pub struct Metrics {
    registry: Registry,
    runs_started: Family<QueueLabel, Counter>,
    runs_finished: Family<OutcomeLabels, Counter>,
    run_duration: Histograms,
    start_lateness: Histograms,
    lease_expiries: Counter,
    reconciler_repairs: Family<KindLabel, Counter>,
    redis_errors: Family<OperationLabel, Counter>,
    clock_skew: Gauge<f64, std::sync::atomic::AtomicU64>,
}

/// Seconds from 1 ms to about 9 minutes, doubling.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("recur");
        let runs_started = Family::<QueueLabel, Counter>::default();
        registry.register("runs_started", "Runs this worker started, by queue", runs_started.clone());
        let runs_finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "runs_finished",
            "Runs that ended, by queue and outcome (succeeded, failed, cancelled, skipped, lease_expired)",
            runs_finished.clone(),
        );
        let run_duration = Histograms::new_with_constructor(seconds_buckets);
        registry.register_with_unit(
            "run_duration",
            "How long runs took, by queue",
            Unit::Seconds,
            run_duration.clone(),
        );
        let start_lateness = Histograms::new_with_constructor(seconds_buckets);
        registry.register_with_unit(
            "run_start_lateness",
            "Actual start minus planned time of each run, by queue",
            Unit::Seconds,
            start_lateness.clone(),
        );
        let lease_expiries = Counter::default();
        registry.register(
            "lease_expiries",
            "Jobs this worker took over because their lease expired",
            lease_expiries.clone(),
        );
        let reconciler_repairs = Family::<KindLabel, Counter>::default();
        registry.register(
            "reconciler_repairs",
            "What reconciler passes run by this worker repaired, by kind",
            reconciler_repairs.clone(),
        );
        let redis_errors = Family::<OperationLabel, Counter>::default();
        registry.register("redis_errors", "Redis calls that failed, by operation", redis_errors.clone());
        let clock_skew = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "clock_skew",
            "How far this worker's clock was ahead of Redis's at its last heartbeat (negative: behind)",
            Unit::Seconds,
            clock_skew.clone(),
        );
        Self {
            registry,
            runs_started,
            runs_finished,
            run_duration,
            start_lateness,
            lease_expiries,
            reconciler_repairs,
            redis_errors,
            clock_skew,
        }
    }
}

impl Metrics {
    /// A run started on `queue`, `lateness` after its planned time.
    pub fn run_started(&self, queue: &str, lateness: Duration) {
        let label = QueueLabel { queue: queue.to_string() };
        self.runs_started.get_or_create(&label).inc();
        self.start_lateness.get_or_create(&label).observe(lateness.as_secs_f64());
    }

    /// A run on `queue` ended with `outcome` after `duration` (none for a skipped occurrence).
    pub fn run_finished(&self, queue: &str, outcome: &'static str, duration: Option<Duration>) {
        self.runs_finished.get_or_create(&OutcomeLabels { queue: queue.to_string(), outcome }).inc();
        if let Some(duration) = duration {
            self.run_duration.get_or_create(&QueueLabel { queue: queue.to_string() }).observe(duration.as_secs_f64());
        }
    }

    /// `count` jobs of `queue` taken over after their lease expired.
    pub fn leases_expired(&self, queue: &str, count: u64) {
        self.lease_expiries.inc_by(count);
        let label = OutcomeLabels { queue: queue.to_string(), outcome: "lease_expired" };
        self.runs_finished.get_or_create(&label).inc_by(count);
    }

    /// What one reconciler pass did.
    pub fn reconciled(&self, report: &ReconcileReport) {
        for (kind, count) in [
            ("promoted", report.promoted),
            ("requeued", report.requeued),
            ("recovered", report.recovered),
            ("skipped_expired", report.skipped_expired),
            ("skipped_overlap", report.skipped_overlap),
            ("corrupt", report.corrupt),
        ] {
            self.reconciler_repairs.get_or_create(&KindLabel { kind }).inc_by(count);
        }
    }

    /// A Redis call for `operation` (claim, finish, renew, recover, reconcile, heartbeat) failed.
    pub fn redis_error(&self, operation: &'static str) {
        self.redis_errors.get_or_create(&OperationLabel { operation }).inc();
    }

    /// This worker's clock was `skew` ahead of Redis's at its last heartbeat (behind when negative).
    pub fn clock_skew(&self, skew: jiff::SignedDuration) {
        self.clock_skew.set(skew.as_secs_f64());
    }

    /// The text exposition format.
    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Takes `addr` for [`serve`]: at start, so that an address in use stops the worker with one line rather
/// than leaving it running without its probes.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot serve metrics on {addr}"))
}

/// Serves `/metrics`, `/healthz` (Redis answers and takes writes) and `/readyz` (and holds every script) on
/// `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    store: Store,
    shutdown: CancellationToken,
) {
    let addr = listener.local_addr().map_or_else(|_| "its address".to_string(), |addr| addr.to_string());
    let router = Router::new()
        .route("/metrics", get(render))
        .with_state(metrics)
        .merge(Router::new().route("/healthz", get(health)).route("/readyz", get(ready)).with_state(store));
    tracing::info!("metrics and probes on http://{addr}/metrics");
    let served = axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
    if let Err(error) = served {
        tracing::error!(error = %error, "the metrics server stopped");
    }
}

async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    match metrics.render() {
        Ok(text) => {
            (StatusCode::OK, [("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/plain")], String::new()),
    }
}

async fn health(State(store): State<Store>) -> (StatusCode, String) {
    probe(store.inspect().redis_health().await)
}

/// Health, and Redis holds every script (the missing ones are loaded).
async fn ready(State(store): State<Store>) -> (StatusCode, String) {
    probe(store.readiness().await)
}

fn probe(health: recur_common::Result<RedisHealth>) -> (StatusCode, String) {
    match health {
        Ok(RedisHealth::Ok) => (StatusCode::OK, "ok\n".to_string()),
        Ok(RedisHealth::OutOfMemory { .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, "Redis is out of memory\n".to_string())
        }
        Err(error) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("Redis is unreachable: {}\n", recur_common::one_line(&error)))
        }
    }
}
