use axum::{Json, extract::State, http::StatusCode};
use recur_common::{
    inspect::Page,
    model::{ExecutionId, NewRun, NewWorkflow, Workflow},
    store::QueuedRun,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, unserved_queues, with_warnings};
use crate::{
    error::ApiError,
    extract::{BulkBody, JsonBody, PageQuery, PathId, QueryParams, page_limit},
};

pub async fn create_workflow(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewWorkflow>,
) -> Result<(StatusCode, Json<Workflow>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.store.create_workflow(new).await?)))
}

pub async fn list_workflows(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<Workflow>>, ApiError> {
    let limit = page_limit(query.limit)?;
    Ok(Json(state.store.inspect().workflows(limit, query.cursor.as_deref()).await?))
}

pub async fn show_workflow(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Workflow>, ApiError> {
    Ok(Json(state.store.inspect().workflow(id).await?))
}

pub async fn update_workflow(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(new): JsonBody<NewWorkflow>,
) -> Result<Json<Workflow>, ApiError> {
    Ok(Json(state.store.update_workflow(id, new).await?))
}

pub async fn delete_workflow(State(state): State<AppState>, PathId(id): PathId<Uuid>) -> Result<StatusCode, ApiError> {
    state.store.delete_workflow(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn show_workflow_version(
    State(state): State<AppState>,
    PathId((id, version)): PathId<(Uuid, u32)>,
) -> Result<Json<Workflow>, ApiError> {
    Ok(Json(state.store.inspect().workflow_version(id, version).await?))
}

/// `POST /workflows/{id}/run`: 202 with the id of the execution the run records.
pub async fn run_workflow(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(run): JsonBody<NewRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let queued = state.store.run_workflow(id, run).await?;
    let warnings = unserved_queues(&state, [&queued.queue]).await?;
    Ok((StatusCode::ACCEPTED, Json(with_warnings(run_answer(&queued), warnings))))
}

/// `POST /workflows/{id}/runs`: up to 1,000 runs, checked as a whole; 202 with each run as
/// `POST /workflows/{id}/run` answers it, in order, or 400 `invalid_items`.
pub async fn run_workflow_many(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<BulkBody<NewRun>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let runs = state.store.run_workflow_many(id, body.items).await?;
    let warnings = unserved_queues(&state, runs.iter().map(|run| &run.queue)).await?;
    let answer = json!({ "items": runs.iter().map(run_answer).collect::<Vec<_>>() });
    Ok((StatusCode::ACCEPTED, Json(with_warnings(answer, warnings))))
}

/// What an ad-hoc run is known by: its first execution, its job and its queue.
fn run_answer(queued: &QueuedRun) -> Value {
    json!({
        "execution_id": ExecutionId { job: queued.job, attempt: 1 },
        "job_id": queued.job.to_string(),
        "queue": queued.queue,
    })
}
