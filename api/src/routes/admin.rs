use axum::{Json, extract::State};
use recur_common::{inspect::Overview, store::ReconcileReport};

use super::AppState;
use crate::error::ApiError;

/// One reconciler pass now: what workers do on their own every `RECUR_RECONCILE_SECONDS`.
#[utoipa::path(post, path = "/admin/tick", tag = "operations", responses(
    (status = 200, description = "What the pass did", body = ReconcileReport),
))]
pub async fn tick(State(state): State<AppState>) -> Result<Json<ReconcileReport>, ApiError> {
    Ok(Json(state.store.reconcile().await?))
}

/// The deployment at a glance, as `recur-worker inspect --json` prints it: queues, live workers, schedules
/// by status, records that do not decode.
#[utoipa::path(get, path = "/status", tag = "operations", responses(
    (status = 200, description = "The overview", body = Overview),
))]
pub async fn status(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(state.store.inspect().overview().await?))
}
