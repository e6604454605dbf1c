//! The router: the only place where paths appear.

mod admin;
mod executions;
mod health;
mod schedules;
mod workflows;

use axum::{
    Router,
    extract::{Request, State},
    http::header::{AUTHORIZATION, HOST, ORIGIN},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use recur_common::{model::QueueName, store::Store};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::{collections::BTreeSet, net::IpAddr, sync::Arc};

use crate::{
    error::ApiError,
    metrics::{self, ApiMetrics},
};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Accepted bearer tokens; empty means no authentication (loopback only, checked at start).
    pub api_keys: Arc<Vec<SecretString>>,
    /// Request counts and latencies, for `GET /metrics`.
    pub metrics: Arc<ApiMetrics>,
}

/// Every route of the API under `/api/v1`, plus an unauthenticated `/healthz`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/workflows", post(workflows::create_workflow).get(workflows::list_workflows))
        .route(
            "/workflows/{id}",
            get(workflows::show_workflow).put(workflows::update_workflow).delete(workflows::delete_workflow),
        )
        .route("/workflows/{id}/versions/{version}", get(workflows::show_workflow_version))
        .route("/workflows/{id}/run", post(workflows::run_workflow))
        .route("/workflows/{id}/runs", post(workflows::run_workflow_many))
        .route("/schedules", post(schedules::create_schedule).get(schedules::list_schedules))
        .route("/schedules/batch", post(schedules::create_schedules))
        .route(
            "/schedules/{id}",
            get(schedules::show_schedule).patch(schedules::update_schedule).delete(schedules::delete_schedule),
        )
        .route("/schedules/{id}/pause", post(schedules::pause_schedule))
        .route("/schedules/{id}/resume", post(schedules::resume_schedule))
        .route("/schedules/{id}/trigger", post(schedules::trigger_schedule))
        .route("/schedules/{id}/restart", post(schedules::restart_schedule))
        .route("/schedules/{id}/backfill", post(schedules::backfill_schedule))
        .route("/schedules/{id}/upcoming", get(schedules::upcoming_occurrences))
        .route("/schedules/preview", post(schedules::preview_schedule))
        .route("/schedules/{id}/executions", get(executions::list_schedule_executions))
        .route("/executions", get(executions::list_executions))
        .route("/executions/{id}", get(executions::show_execution))
        .route("/executions/{id}/cancel", post(executions::cancel_execution))
        .route("/admin/tick", post(admin::tick))
        .route("/status", get(admin::status))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .fallback(|| async { ApiError::not_found("no such path") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::record_request))
        .with_state(state)
}

/// Warnings for an answer: one per queue of `queues` that no live worker consumes, since what was queued
/// there waits until a worker for it starts.
async fn unserved_queues<'a>(
    state: &AppState,
    queues: impl IntoIterator<Item = &'a QueueName>,
) -> Result<Vec<String>, ApiError> {
    let consumed = state.store.inspect().consumed_queues().await?;
    let unserved: BTreeSet<&str> =
        queues.into_iter().map(QueueName::as_str).filter(|q| !consumed.contains(*q)).collect();
    Ok(unserved
        .into_iter()
        .map(|queue| format!("no live worker consumes queue {queue:?}: its jobs wait until one does"))
        .collect())
}

/// `answer` with its `warnings`, when there are any.
fn with_warnings(mut answer: serde_json::Value, warnings: Vec<String>) -> serde_json::Value {
    if let (false, Some(object)) = (warnings.is_empty(), answer.as_object_mut()) {
        object.insert("warnings".to_string(), warnings.into());
    }
    answer
}

/// Paths served without a key, for load balancers and orchestrators.
const PROBES: [&str; 4] = ["/healthz", "/api/v1/healthz", "/readyz", "/api/v1/readyz"];

/// Runs before routing, so an unknown path or a wrong method reveals nothing without a key. Without keys
/// (loopback only) it refuses requests a browser sends on behalf of another site (their `Origin` names
/// another host) and any `Host` but a loopback one (a DNS-rebound name resolving to this machine); with keys
/// it requires `Authorization: Bearer <key>` on every path but `/healthz`.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let headers = request.headers();
    let host = headers.get(HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    // With keys a page on another site cannot act: the browser does not add a bearer token by itself (and a
    // proxy in front may rewrite Host, so Origin is not compared then).
    let keyless = state.api_keys.is_empty();
    if let Some(origin) = headers.get(ORIGIN).filter(|_| keyless) {
        let same_site =
            origin.to_str().ok().and_then(|origin| origin.split_once("://")).is_some_and(|(_, o)| o == host);
        if !same_site {
            return Err(ApiError::forbidden("cross-site requests are refused (the Origin is not this API's host)"));
        }
    }
    if keyless && !host.is_empty() && !is_loopback_host(host) {
        return Err(ApiError::forbidden(format!(
            "without RECUR_API_KEYS only loopback host names are served, not {host:?}; set keys to serve others"
        )));
    }
    let path = request.uri().path();
    if keyless || PROBES.contains(&path) {
        return Ok(next.run(request).await);
    }
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if presented.is_some_and(|token| is_known_key(&state.api_keys, token)) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Whether a `Host` header (name and optional port) names this machine's loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares SHA-256 digests of the token and of every key, all of them, without an early exit: neither a
/// key's length nor which key matched shows in the response time.
fn is_known_key(keys: &[SecretString], token: &str) -> bool {
    let presented = Sha256::digest(token.as_bytes());
    keys.iter().fold(false, |known, key| {
        let digest = Sha256::digest(key.expose_secret().as_bytes());
        let equal = digest.iter().zip(presented.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        known | equal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_names_and_addresses_of_this_machine_with_or_without_a_port() {
        for host in ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:8080", "127.1.2.3:1", "[::1]:8080", "[::1]"]
        {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["attacker.example:8080", "10.0.0.1", "localhost.attacker.example", "[::2]:80", "0.0.0.0:8080"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn a_key_is_known_by_its_whole_value_only() {
        let keys = vec![SecretString::from("first-key"), SecretString::from("second")];
        assert!(is_known_key(&keys, "second") && is_known_key(&keys, "first-key"));
        for token in ["", "sec", "second2", "first-ke"] {
            assert!(!is_known_key(&keys, token), "{token}");
        }
    }
}
