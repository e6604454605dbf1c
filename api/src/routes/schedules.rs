use axum::{Json, extract::State, http::StatusCode};
use recur_common::{
    inspect::{Page, ScheduleFilter},
    model::{NewSchedule, Schedule, SchedulePatch, ScheduleStatus},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use crate::{
    error::ApiError,
    extract::{JsonBody, PathId, QueryParams, page_limit},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSchedulesQuery {
    status: Option<String>,
    workflow_id: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn create_schedule(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewSchedule>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.store.create_schedule(new).await?)))
}

pub async fn list_schedules(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListSchedulesQuery>,
) -> Result<Json<Page<Schedule>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let status = query.status.as_deref().map(str::parse::<ScheduleStatus>).transpose()?;
    let workflow_id = query
        .workflow_id
        .as_deref()
        .map(|id| {
            id.parse::<Uuid>().map_err(|_| {
                ApiError::validation(format!("workflow_id {id:?} is not a UUID"), Some("workflow_id".to_string()))
            })
        })
        .transpose()?;
    let filter = ScheduleFilter { status, workflow_id };
    Ok(Json(state.store.inspect().schedules(&filter, limit, query.cursor.as_deref()).await?))
}

pub async fn show_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.inspect().schedule(id).await?))
}

pub async fn update_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(patch): JsonBody<SchedulePatch>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.update_schedule(id, patch).await?))
}

pub async fn delete_schedule(State(state): State<AppState>, PathId(id): PathId<Uuid>) -> Result<StatusCode, ApiError> {
    state.store.delete_schedule(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.pause_schedule(id).await?))
}

pub async fn resume_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.resume_schedule(id).await?))
}

pub async fn trigger_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job = state.store.trigger_schedule(id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job_id": job.to_string() }))))
}
