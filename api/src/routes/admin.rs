use axum::{Json, extract::State};
use recur_common::store::ReconcileReport;

use super::AppState;
use crate::error::ApiError;

/// One reconciler pass now.
pub async fn tick(State(state): State<AppState>) -> Result<Json<ReconcileReport>, ApiError> {
    Ok(Json(state.store.reconcile().await?))
}
