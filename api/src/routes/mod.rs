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
};
use recur_common::{model::QueueName, store::Store};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::{collections::BTreeSet, net::IpAddr, sync::Arc};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    dashboard,
    error::ApiError,
    metrics::{self, ApiMetrics},
    openapi,
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

/// An answer and what the caller should know about it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Warned<T> {
    #[serde(flatten)]
    pub answer: T,
    /// What will not go as the caller may expect (a queue no live worker consumes, a handler no live worker
    /// offers: the work waits until one starts); left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The answer of a bulk request: one entry per item, in the order sent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// Every route of the API under `/api/v1`, plus unauthenticated probes at the root, `/metrics`, and the API's
/// description (`/api/v1/openapi.json`, `/api/v1/docs`), generated from these routes.
pub fn router(state: AppState) -> Router {
    let api = OpenApiRouter::new()
        .routes(routes!(workflows::create_workflow, workflows::list_workflows))
        .routes(routes!(workflows::show_workflow, workflows::update_workflow, workflows::delete_workflow))
        .routes(routes!(workflows::show_workflow_version))
        .routes(routes!(workflows::run_workflow))
        .routes(routes!(workflows::run_workflow_many))
        .routes(routes!(schedules::create_schedule, schedules::list_schedules))
        .routes(routes!(schedules::create_schedules))
        .routes(routes!(schedules::show_schedule, schedules::update_schedule, schedules::delete_schedule))
        .routes(routes!(schedules::pause_schedule))
        .routes(routes!(schedules::resume_schedule))
        .routes(routes!(schedules::trigger_schedule))
        .routes(routes!(schedules::restart_schedule))
        .routes(routes!(schedules::backfill_schedule))
        .routes(routes!(schedules::upcoming_occurrences))
        .routes(routes!(schedules::preview_schedule))
        .routes(routes!(executions::list_schedule_executions))
        .routes(routes!(executions::list_executions))
        .routes(routes!(executions::show_execution))
        .routes(routes!(executions::cancel_execution))
        .routes(routes!(admin::tick))
        .routes(routes!(admin::status))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz));
    let (router, description) = OpenApiRouter::with_openapi(openapi::base())
        .nest(openapi::API_BASE, api)
        .routes(routes!(metrics::scrape))
        .routes(routes!(health::root_healthz))
        .routes(routes!(health::root_readyz))
        .split_for_parts();
    router
        .merge(openapi::docs_page(openapi::finish(description)))
        .merge(dashboard::routes())
        .fallback(|| async { ApiError::not_found("no such path") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::record_request))
        .with_state(state)
}

/// Warnings for an answer about runs of workflows on queues (`None`: on any queue): what was accepted but
/// will wait, because no live worker consumes the queue, or none that does offers a handler the workflow
/// calls. Each (workflow, queue) pair is checked once, however many items share it.
async fn waiting_warnings(state: &AppState, runs: Vec<(Uuid, Option<QueueName>)>) -> Result<Vec<String>, ApiError> {
    let waits = state.store.inspect().run_waits(runs).await?;
    let unserved: BTreeSet<&QueueName> =
        waits.iter().filter(|wait| wait.unserved_queue).filter_map(|wait| wait.queue.as_ref()).collect();
    let mut warnings: Vec<String> = unserved
        .iter()
        .map(|queue| format!("no live worker consumes queue {:?}: its jobs wait until one does", queue.as_str()))
        .collect();
    for wait in waits.iter().filter(|wait| !wait.unserved_queue) {
        let workers = wait.queue.as_ref().map_or_else(String::new, |queue| format!(" of queue {:?}", queue.as_str()));
        for handler in &wait.unoffered_handlers {
            warnings.push(format!(
                "no live worker{workers} offers the handler {handler:?} that workflow {} calls: its runs wait, \
                 waiting_for_handler, until one does",
                wait.workflow_id
            ));
        }
    }
    Ok(warnings)
}

/// Paths served without a key: probes for load balancers and orchestrators, and the API's description (which
/// tells nothing of the deployment; its docs page asks for a key to try requests). The dashboard's pages are
/// served without a key too: they hold no data, and ask for the key the API then requires.
const PUBLIC: [&str; 5] = ["/healthz", "/api/v1/healthz", "/readyz", "/api/v1/readyz", openapi::DOCUMENT_PATH];

/// Runs before routing, so an unknown path or a wrong method reveals nothing without a key. Without keys
/// (loopback only) it refuses requests a browser sends on behalf of another site (their `Origin` names
/// another host) and any `Host` but a loopback one (a DNS-rebound name resolving to this machine); with keys
/// it requires `Authorization: Bearer <key>` on every path but the probes and the API description.
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
    if keyless || PUBLIC.contains(&path) || openapi::is_docs_page(path) || dashboard::is_dashboard(path) {
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
