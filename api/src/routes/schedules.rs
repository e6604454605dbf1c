use axum::{Json, extract::State, http::StatusCode};
use jiff::Timestamp;
use recur_common::{
    inspect::{Page, ScheduleFilter},
    model::{MAX_OCCURRENCES, NewSchedule, Schedule, SchedulePatch, ScheduleStatus, rfc3339},
    store::Backfill,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, unserved_queues, with_warnings};
use crate::{
    error::ApiError,
    extract::{BulkBody, JsonBody, PathId, QueryParams, page_limit},
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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let schedule = state.store.create_schedule(new).await?;
    let warnings = unserved_queues(&state, [&schedule.queue]).await?;
    Ok((StatusCode::CREATED, Json(with_warnings(json!(schedule), warnings))))
}

/// `POST /schedules/batch`: up to 1,000 schedules, checked as a whole; 201 with `{"id", "next_run_at"}` of each,
/// in order, or 400 `invalid_items` listing every item that cannot be accepted.
pub async fn create_schedules(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BulkBody<NewSchedule>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = state.store.create_schedules(body.items).await?;
    let items: Vec<Value> = created
        .iter()
        .map(|schedule| json!({ "id": schedule.id, "next_run_at": schedule.next_run_at.map(rfc3339) }))
        .collect();
    let warnings = unserved_queues(&state, created.iter().map(|schedule| &schedule.queue)).await?;
    Ok((StatusCode::CREATED, Json(with_warnings(json!({ "items": items }), warnings))))
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
    let triggered = state.store.trigger_schedule(id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job_id": triggered.job.to_string(), "waiting": triggered.waiting }))))
}

pub async fn restart_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.restart_schedule(id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRange {
    from: Timestamp,
    to: Timestamp,
}

pub async fn backfill_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(range): JsonBody<BackfillRange>,
) -> Result<(StatusCode, Json<Backfill>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.store.backfill_schedule(id, range.from, range.to).await?)))
}

/// `count` and `from` of a preview.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    count: Option<usize>,
    from: Option<Timestamp>,
}

impl PreviewQuery {
    fn count(&self) -> Result<usize, ApiError> {
        match self.count.unwrap_or(10) {
            count @ 1..=MAX_OCCURRENCES => Ok(count),
            _ => Err(ApiError::validation(
                format!("count must be between 1 and {MAX_OCCURRENCES}"),
                Some("count".to_string()),
            )),
        }
    }
}

/// The occurrences, and the instant they were counted from: `from` (default now), moved to the schedule's
/// start when it was earlier, which the answer says rather than doing silently.
fn occurrences(schedule: &Schedule, query: &PreviewQuery, now: Timestamp) -> Result<Json<Value>, ApiError> {
    let from = query.from.unwrap_or(now);
    let occurrences: Vec<String> = schedule.upcoming(from, query.count()?).into_iter().map(rfc3339).collect();
    Ok(Json(json!({ "occurrences": occurrences, "from": rfc3339(schedule.counted_from(from)) })))
}

pub async fn upcoming_occurrences(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let schedule = state.store.inspect().schedule(id).await?;
    occurrences(&schedule, &query, state.store.clock().now())
}

/// The occurrences a create body would have, without saving it (its workflow need not exist yet).
pub async fn preview_schedule(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PreviewQuery>,
    JsonBody(new): JsonBody<NewSchedule>,
) -> Result<Json<Value>, ApiError> {
    let now = state.store.clock().now();
    let schedule = new.into_schedule(Uuid::nil(), "preview", now)?;
    occurrences(&schedule, &query, now)
}
