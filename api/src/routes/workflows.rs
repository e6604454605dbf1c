use axum::{Json, extract::State, http::StatusCode};
use recur_common::{
    inspect::Page,
    model::{ExecutionId, NewRun, NewWorkflow, QueueName, Workflow},
    store::QueuedRun,
};
use serde::Serialize;
use uuid::Uuid;

use super::{AppState, Items, Warned, waiting_warnings};
use crate::{
    error::{ApiError, ErrorBody},
    extract::{BulkBody, JsonBody, PageQuery, PathId, QueryParams, page_limit},
};

/// What an ad-hoc run is known by.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunQueued {
    /// The run's first execution; `GET /executions/{id}` shows it from now on, `queued` until a worker takes it.
    pub execution_id: ExecutionId,
    pub job_id: String,
    pub queue: QueueName,
}

impl From<&QueuedRun> for RunQueued {
    fn from(queued: &QueuedRun) -> Self {
        Self {
            execution_id: ExecutionId { job: queued.job, attempt: 1 },
            job_id: queued.job.to_string(),
            queue: queued.queue.clone(),
        }
    }
}

/// Saves a new workflow as version 1. A handler step no live worker offers is accepted with a warning: its
/// runs wait until a worker offering it starts.
#[utoipa::path(post, path = "/workflows", tag = "workflows", request_body = NewWorkflow, responses(
    (status = 201, description = "Saved", body = Warned<Workflow>),
    (status = 409, description = "The name is taken", body = ErrorBody),
))]
pub async fn create_workflow(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewWorkflow>,
) -> Result<(StatusCode, Json<Warned<Workflow>>), ApiError> {
    let workflow = state.store.create_workflow(new).await?;
    let warnings = waiting_warnings(&state, vec![(workflow.id, None)]).await?;
    Ok((StatusCode::CREATED, Json(Warned { answer: workflow, warnings })))
}

/// Workflows, newest first, a page at a time.
#[utoipa::path(get, path = "/workflows", tag = "workflows", params(PageQuery), responses(
    (status = 200, description = "One page", body = Page<Workflow>),
))]
pub async fn list_workflows(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<Workflow>>, ApiError> {
    let limit = page_limit(query.limit)?;
    Ok(Json(state.store.inspect().workflows(limit, query.cursor.as_deref()).await?))
}

/// The current version of a workflow.
#[utoipa::path(get, path = "/workflows/{id}", tag = "workflows", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "The workflow", body = Workflow),
    (status = 404, description = "No such workflow", body = ErrorBody),
))]
pub async fn show_workflow(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Workflow>, ApiError> {
    Ok(Json(state.store.inspect().workflow(id).await?))
}

/// Replaces a workflow's steps as a new version; runs under way keep the version they started with.
#[utoipa::path(put, path = "/workflows/{id}", tag = "workflows", params(("id" = Uuid, Path)), request_body = NewWorkflow, responses(
    (status = 200, description = "Saved as the next version", body = Warned<Workflow>),
    (status = 404, description = "No such workflow", body = ErrorBody),
    (status = 409, description = "The name is taken, or others edited it at the same time", body = ErrorBody),
))]
pub async fn update_workflow(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(new): JsonBody<NewWorkflow>,
) -> Result<Json<Warned<Workflow>>, ApiError> {
    let workflow = state.store.update_workflow(id, new).await?;
    let warnings = waiting_warnings(&state, vec![(workflow.id, None)]).await?;
    Ok(Json(Warned { answer: workflow, warnings }))
}

/// Deletes a workflow that no schedule uses.
#[utoipa::path(delete, path = "/workflows/{id}", tag = "workflows", params(("id" = Uuid, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "No such workflow", body = ErrorBody),
    (status = 409, description = "Schedules use it", body = ErrorBody),
))]
pub async fn delete_workflow(State(state): State<AppState>, PathId(id): PathId<Uuid>) -> Result<StatusCode, ApiError> {
    state.store.delete_workflow(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One version of a workflow, as executions that ran it saw it.
#[utoipa::path(get, path = "/workflows/{id}/versions/{version}", tag = "workflows", params(("id" = Uuid, Path), ("version" = u32, Path)), responses(
    (status = 200, description = "That version", body = Workflow),
    (status = 404, description = "No such workflow or version", body = ErrorBody),
))]
pub async fn show_workflow_version(
    State(state): State<AppState>,
    PathId((id, version)): PathId<(Uuid, u32)>,
) -> Result<Json<Workflow>, ApiError> {
    Ok(Json(state.store.inspect().workflow_version(id, version).await?))
}

/// Runs a workflow once, now, outside any schedule.
#[utoipa::path(post, path = "/workflows/{id}/run", tag = "workflows", params(("id" = Uuid, Path)), request_body = NewRun, responses(
    (status = 202, description = "Queued", body = Warned<RunQueued>),
    (status = 404, description = "No such workflow", body = ErrorBody),
))]
pub async fn run_workflow(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(run): JsonBody<NewRun>,
) -> Result<(StatusCode, Json<Warned<RunQueued>>), ApiError> {
    let queued = state.store.run_workflow(id, run).await?;
    let warnings = waiting_warnings(&state, vec![(id, Some(queued.queue.clone()))]).await?;
    Ok((StatusCode::ACCEPTED, Json(Warned { answer: RunQueued::from(&queued), warnings })))
}

/// Up to 1,000 runs of a workflow in one request, checked as a whole: every run is queued, in order, or none
/// is and `invalid_items` lists each item that cannot be accepted.
#[utoipa::path(post, path = "/workflows/{id}/runs", tag = "workflows", params(("id" = Uuid, Path)), request_body = BulkBody<NewRun>, responses(
    (status = 202, description = "Every run queued, in the order sent", body = Warned<Items<RunQueued>>),
    (status = 404, description = "No such workflow", body = ErrorBody),
))]
pub async fn run_workflow_many(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<BulkBody<NewRun>>,
) -> Result<(StatusCode, Json<Warned<Items<RunQueued>>>), ApiError> {
    let runs = state.store.run_workflow_many(id, body.items).await?;
    let warnings = waiting_warnings(&state, runs.iter().map(|run| (id, Some(run.queue.clone()))).collect()).await?;
    let items = runs.iter().map(RunQueued::from).collect();
    Ok((StatusCode::ACCEPTED, Json(Warned { answer: Items { items }, warnings })))
}
