use std::time::Duration;

use axum::{Json, extract::State};
use recur_common::{inspect::RedisHealth, one_line};
use serde_json::{Value, json};

use super::AppState;
use crate::error::ApiError;

/// 200 when Redis answers within two seconds and takes writes, 503 saying why otherwise.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    answer(state.store.inspect().redis_health()).await
}

/// `healthz`, and Redis holds every script (the missing ones are loaded): this API can serve requests.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    answer(state.store.readiness()).await
}

async fn answer(check: impl Future<Output = recur_common::Result<RedisHealth>>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(RedisHealth::Ok)) => Ok(Json(json!({ "status": "ok" }))),
        Ok(Ok(RedisHealth::OutOfMemory { used, max })) => Err(ApiError::unavailable(format!(
            "Redis is out of memory ({used} of maxmemory {max} bytes used, policy noeviction) and refuses writes"
        ))),
        Ok(Err(error)) => Err(ApiError::unavailable(format!("Redis is unreachable: {}", one_line(&error)))),
        Err(_) => Err(ApiError::unavailable("Redis did not answer within 2 s")),
    }
}
