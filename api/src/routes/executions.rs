use axum::{Json, extract::State, http::StatusCode};
use jiff::Timestamp;
use recur_common::{
    inspect::{ExecutionFilter, Page},
    model::{Execution, ExecutionState},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use crate::{
    error::ApiError,
    extract::{PageQuery, PathId, QueryParams, page_limit},
};

pub async fn list_schedule_executions(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<Execution>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let inspect = state.store.inspect();
    inspect.schedule(id).await?;
    Ok(Json(inspect.executions(id, limit, query.cursor.as_deref()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    workflow_id: Option<Uuid>,
    schedule_id: Option<Uuid>,
    state: Option<ExecutionState>,
    since: Option<Timestamp>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /executions`: the run history across schedules, newest first.
pub async fn list_executions(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Json<Page<Execution>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = ExecutionFilter {
        workflow_id: query.workflow_id,
        schedule_id: query.schedule_id,
        state: query.state,
        since: query.since,
    };
    Ok(Json(state.store.inspect().history(&filter, limit, query.cursor.as_deref()).await?))
}

pub async fn show_execution(
    State(state): State<AppState>,
    PathId(id): PathId<String>,
) -> Result<Json<Execution>, ApiError> {
    Ok(Json(state.store.inspect().execution(&id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelQuery {
    #[serde(default)]
    count_as_failure: bool,
}

/// `POST /executions/{id}/cancel`: 202 once the worker running it has been asked to stop.
pub async fn cancel_execution(
    State(state): State<AppState>,
    PathId(id): PathId<String>,
    QueryParams(query): QueryParams<CancelQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.store.cancel_execution(&id, query.count_as_failure).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "execution_id": id, "cancel_requested": true, "count_as_failure": query.count_as_failure })),
    ))
}
