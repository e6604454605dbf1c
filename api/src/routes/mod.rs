//! The router: the only place where paths appear.

mod admin;
mod executions;
mod health;
mod schedules;
mod workflows;

use axum::{
    Router,
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use recur_common::store::Store;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use crate::error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Accepted bearer tokens; empty means no authentication (loopback only, checked at start).
    pub api_keys: Arc<Vec<SecretString>>,
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
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route("/healthz", get(health::healthz));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .fallback(|| async { ApiError::not_found("no such path") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
}

/// Requires `Authorization: Bearer <key>` when keys are configured.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    if state.api_keys.is_empty() {
        return Ok(next.run(request).await);
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let known =
        presented.is_some_and(|token| state.api_keys.iter().any(|key| constant_time_eq(key.expose_secret(), token)));
    if known { Ok(next.run(request).await) } else { Err(ApiError::unauthorized()) }
}

/// Compares without an early exit, so response time does not reveal how much of a key matched.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
