//! The API's Prometheus metrics at `GET /metrics`: requests by route, method and status with their latency,
//! and, read from Redis at each scrape, queue depth by state, schedules by status and live workers. Routes
//! are the matched patterns (`/api/v1/schedules/{id}`), never ids, so label sets stay bounded.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
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

use crate::{error::ApiError, routes::AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueStateLabels {
    queue: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// Every metric of one API process.
pub struct ApiMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    queue_jobs: Family<QueueStateLabels, Gauge>,
    schedules: Family<StatusLabel, Gauge>,
    workers: Gauge,
}

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("recur");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route, method and status", requests.clone());
        let latency = Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency_buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer, by route",
            Unit::Seconds,
            latency.clone(),
        );
        let queue_jobs = Family::<QueueStateLabels, Gauge>::default();
        registry.register(
            "queue_jobs",
            "Jobs in each queue by state (ready, delayed, running; waiting_for_handler, among ready and delayed)",
            queue_jobs.clone(),
        );
        let schedules = Family::<StatusLabel, Gauge>::default();
        registry.register("schedules", "Schedules by status", schedules.clone());
        let workers = Gauge::default();
        registry.register("workers_live", "Workers whose heartbeat is recent", workers.clone());
        Self { registry, requests, latency, queue_jobs, schedules, workers }
    }
}

/// Counts every request with its matched route, method, status and latency.
pub async fn record_request(State(metrics): State<Arc<ApiMetrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_string();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The access log: the route pattern, never ids, query strings or headers (so never a key).
    tracing::info!(http.method = %method, http.route = %route, http.status = status, elapsed_ms,
        "{method} {route} {status} in {elapsed_ms:.1} ms");
    metrics.latency.get_or_create(&RouteLabel { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    response
}

/// Prometheus metrics in the text exposition format, with the Redis-side gauges read now. Same key rule as
/// the API; `docs/operations.md` lists every metric.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String),
))]
pub async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let metrics = &state.metrics;
    let overview = state.store.inspect().overview().await?;
    for queue in &overview.queues {
        let states = [
            ("ready", queue.ready),
            ("delayed", queue.delayed),
            ("running", queue.running),
            ("waiting_for_handler", queue.waiting_for_handler),
        ];
        for (state, count) in states {
            let labels = QueueStateLabels { queue: queue.name.clone(), state };
            metrics.queue_jobs.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
    for (status, count) in &overview.schedules {
        let labels = StatusLabel { status: (*status).to_string() };
        metrics.schedules.get_or_create(&labels).set(i64::try_from(*count).unwrap_or(i64::MAX));
    }
    metrics.workers.set(i64::try_from(overview.workers.len()).unwrap_or(i64::MAX));
    let mut text = String::new();
    if encode(&mut text, &metrics.registry).is_err() {
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Ok(([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}
