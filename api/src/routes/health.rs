use std::time::Duration;

use axum::{Json, extract::State};
use recur_common::{inspect::RedisHealth, one_line};
use serde::Serialize;

use super::AppState;
use crate::error::{ApiError, ErrorBody};

/// A probe's answer when all is well.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Healthy {
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
}

/// Liveness: 200 when Redis answers within two seconds and takes writes, 503 saying why otherwise. Served
/// without a key, also at `/healthz`.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses(
    (status = 200, description = "Healthy", body = Healthy),
    (status = 503, description = "Redis is unreachable or out of memory", body = ErrorBody),
))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Healthy>, ApiError> {
    answer(state.store.inspect().redis_health()).await
}

/// Readiness: `healthz`, and Redis holds every script (the missing ones are loaded), so this API can serve
/// requests. Served without a key, also at `/readyz`.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses(
    (status = 200, description = "Ready", body = Healthy),
    (status = 503, description = "Redis is unreachable or out of memory", body = ErrorBody),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Healthy>, ApiError> {
    answer(state.store.readiness()).await
}

/// `/api/v1/healthz` at the root, where load balancers usually probe.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses(
    (status = 200, description = "Healthy", body = Healthy),
    (status = 503, description = "Redis is unreachable or out of memory", body = ErrorBody),
))]
pub async fn root_healthz(state: State<AppState>) -> Result<Json<Healthy>, ApiError> {
    healthz(state).await
}

/// `/api/v1/readyz` at the root, where orchestrators usually probe.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses(
    (status = 200, description = "Ready", body = Healthy),
    (status = 503, description = "Redis is unreachable or out of memory", body = ErrorBody),
))]
pub async fn root_readyz(state: State<AppState>) -> Result<Json<Healthy>, ApiError> {
    readyz(state).await
}

async fn answer(check: impl Future<Output = recur_common::Result<RedisHealth>>) -> Result<Json<Healthy>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(RedisHealth::Ok)) => Ok(Json(Healthy { status: "ok" })),
        Ok(Ok(RedisHealth::OutOfMemory { used, max })) => Err(ApiError::unavailable(format!(
            "Redis is out of memory ({used} of maxmemory {max} bytes used, policy noeviction) and refuses writes"
        ))),
        Ok(Err(error)) => Err(ApiError::unavailable(format!("Redis is unreachable: {}", one_line(&error)))),
        Err(_) => Err(ApiError::unavailable("Redis did not answer within 2 s")),
    }
}
