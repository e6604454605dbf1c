use axum::{Json, extract::State};
use recur_common::{inspect::Page, model::Execution};
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

pub async fn show_execution(
    State(state): State<AppState>,
    PathId(id): PathId<String>,
) -> Result<Json<Execution>, ApiError> {
    Ok(Json(state.store.inspect().execution(&id).await?))
}
