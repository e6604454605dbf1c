use axum::{Json, extract::State, http::StatusCode};
use recur_common::{
    inspect::Page,
    model::{NewWorkflow, Workflow},
};
use uuid::Uuid;

use super::AppState;
use crate::{
    error::ApiError,
    extract::{JsonBody, PageQuery, PathId, QueryParams, page_limit},
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
