use axum::{Json, extract::State};
use recur_common::{inspect::Overview, store::ReconcileReport};

use super::AppState;
use crate::error::ApiError;

/// One reconciler pass now.
pub async fn tick(State(state): State<AppState>) -> Result<Json<ReconcileReport>, ApiError> {
    Ok(Json(state.store.reconcile().await?))
}

/// The deployment at a glance, as `recur-worker inspect --json` prints it: queues, live workers, schedules
/// by status, records that do not decode.
pub async fn status(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(state.store.inspect().overview().await?))
}
