use std::time::Duration;

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::AppState;
use crate::error::ApiError;

/// 200 when Redis answers within two seconds, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.inspect().ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ok" }))),
        Ok(Err(error)) => Err(ApiError::unavailable(format!("redis: {error}"))),
        Err(_) => Err(ApiError::unavailable("redis did not answer within 2 s")),
    }
}
