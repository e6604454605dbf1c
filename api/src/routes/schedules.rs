use axum::{Json, extract::State, http::StatusCode};
use jiff::Timestamp;
use recur_common::{
    inspect::{Page, ScheduleFilter},
    model::{MAX_OCCURRENCES, NewSchedule, QueueName, Schedule, SchedulePatch, ScheduleStatus, rfc3339},
    store::Backfill,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AppState, Items, Warned, waiting_warnings};
use crate::{
    error::{ApiError, ErrorBody},
    extract::{BulkBody, JsonBody, PathId, QueryParams, page_limit},
};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSchedulesQuery {
    /// Only schedules in this status.
    status: Option<ScheduleStatus>,
    /// Only schedules running this workflow.
    workflow_id: Option<Uuid>,
    /// Only schedules whose name contains this, ignoring case.
    name: Option<String>,
    /// Only schedules of this queue.
    queue: Option<String>,
    /// Items a page holds at most: 1 to 500, 50 by default.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Creates a schedule; its first run is planned at once.
#[utoipa::path(post, path = "/schedules", tag = "schedules", request_body = NewSchedule, responses(
    (status = 201, description = "Created", body = Warned<Schedule>),
    (status = 422, description = "`workflow_id` names no workflow", body = ErrorBody),
))]
pub async fn create_schedule(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewSchedule>,
) -> Result<(StatusCode, Json<Warned<Schedule>>), ApiError> {
    let schedule = state.store.create_schedule(new).await?;
    let warnings = waiting_warnings(&state, vec![(schedule.workflow_id, Some(schedule.queue.clone()))]).await?;
    Ok((StatusCode::CREATED, Json(Warned { answer: schedule, warnings })))
}

/// A schedule made by `POST /schedules/batch`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScheduleCreated {
    pub id: Uuid,
    #[serde(with = "recur_common::model::serde_instant::option")]
    #[schema(required = true)]
    pub next_run_at: Option<Timestamp>,
}

/// Up to 1,000 schedules in one request, checked as a whole: every one is created, in order, or none is and
/// `invalid_items` lists each item that cannot be accepted.
#[utoipa::path(post, path = "/schedules/batch", tag = "schedules", request_body = BulkBody<NewSchedule>, responses(
    (status = 201, description = "Every schedule created, in the order sent", body = Warned<Items<ScheduleCreated>>),
))]
pub async fn create_schedules(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BulkBody<NewSchedule>>,
) -> Result<(StatusCode, Json<Warned<Items<ScheduleCreated>>>), ApiError> {
    let created = state.store.create_schedules(body.items).await?;
    let items =
        created.iter().map(|schedule| ScheduleCreated { id: schedule.id, next_run_at: schedule.next_run_at }).collect();
    let runs = created.iter().map(|schedule| (schedule.workflow_id, Some(schedule.queue.clone()))).collect();
    let warnings = waiting_warnings(&state, runs).await?;
    Ok((StatusCode::CREATED, Json(Warned { answer: Items { items }, warnings })))
}

/// Schedules, newest first, a page at a time (ad-hoc runs are not schedules and are not listed).
#[utoipa::path(get, path = "/schedules", tag = "schedules", params(ListSchedulesQuery), responses(
    (status = 200, description = "One page", body = Page<Schedule>),
))]
pub async fn list_schedules(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListSchedulesQuery>,
) -> Result<Json<Page<Schedule>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let queue = query.queue.as_deref().map(QueueName::parse).transpose()?;
    let filter = ScheduleFilter { status: query.status, workflow_id: query.workflow_id, name: query.name, queue };
    Ok(Json(state.store.inspect().schedules(&filter, limit, query.cursor.as_deref()).await?))
}

/// A schedule with its counters and next run.
#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "The schedule", body = Schedule),
    (status = 404, description = "No such schedule", body = ErrorBody),
))]
pub async fn show_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.inspect().schedule(id).await?))
}

/// Changes some of a schedule's settings; timing changes of an active schedule re-plan its next run at once.
#[utoipa::path(patch, path = "/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path)), request_body = SchedulePatch, responses(
    (status = 200, description = "The changed schedule", body = Warned<Schedule>),
    (status = 404, description = "No such schedule", body = ErrorBody),
    (status = 409, description = "The schedule changed too often during the request", body = ErrorBody),
    (status = 422, description = "`workflow_id` names no workflow", body = ErrorBody),
))]
pub async fn update_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(patch): JsonBody<SchedulePatch>,
) -> Result<Json<Warned<Schedule>>, ApiError> {
    let schedule = state.store.update_schedule(id, patch).await?;
    // Moved to a queue, or onto a workflow, that no live worker serves: its runs wait, as on creation.
    let warnings = waiting_warnings(&state, vec![(schedule.workflow_id, Some(schedule.queue.clone()))]).await?;
    Ok(Json(Warned { answer: schedule, warnings }))
}

/// Deletes a schedule and its pending job; a run under way finishes.
#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "No such schedule", body = ErrorBody),
))]
pub async fn delete_schedule(State(state): State<AppState>, PathId(id): PathId<Uuid>) -> Result<StatusCode, ApiError> {
    state.store.delete_schedule(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses an active schedule: its pending job is withdrawn; a run under way finishes.
#[utoipa::path(post, path = "/schedules/{id}/pause", tag = "schedules", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "The schedule", body = Schedule),
    (status = 404, description = "No such schedule", body = ErrorBody),
    (status = 409, description = "The schedule is not active", body = ErrorBody),
))]
pub async fn pause_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.pause_schedule(id).await?))
}

/// Resumes a paused schedule from now: occurrences missed while paused are counted, not run.
#[utoipa::path(post, path = "/schedules/{id}/resume", tag = "schedules", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "The schedule", body = Schedule),
    (status = 404, description = "No such schedule", body = ErrorBody),
    (status = 409, description = "The schedule is not paused", body = ErrorBody),
))]
pub async fn resume_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.resume_schedule(id).await?))
}

/// A manual run queued by `POST /schedules/{id}/trigger`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Triggered {
    pub job_id: String,
    /// Whether it waits for the run under way to end (overlap `buffer_one`) rather than running now.
    pub waiting: bool,
}

/// Runs a schedule once now, outside its calendar; its counters and next run are not changed.
#[utoipa::path(post, path = "/schedules/{id}/trigger", tag = "schedules", params(("id" = Uuid, Path)), responses(
    (status = 202, description = "Queued", body = Triggered),
    (status = 404, description = "No such schedule", body = ErrorBody),
    (status = 409, description = "A run is under way and the overlap policy refuses another (`already_running`), or one already waits", body = ErrorBody),
))]
pub async fn trigger_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<(StatusCode, Json<Triggered>), ApiError> {
    let triggered = state.store.trigger_schedule(id).await?;
    Ok((StatusCode::ACCEPTED, Json(Triggered { job_id: triggered.job.to_string(), waiting: triggered.waiting })))
}

/// Restarts a `done` or `dead` schedule with fresh counters.
#[utoipa::path(post, path = "/schedules/{id}/restart", tag = "schedules", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "The schedule", body = Schedule),
    (status = 404, description = "No such schedule", body = ErrorBody),
    (status = 409, description = "The schedule is active or paused", body = ErrorBody),
))]
pub async fn restart_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.store.restart_schedule(id).await?))
}

/// The occurrences to run again: those in `from..=to`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2026-11-30T00:00:00Z", "to": "2026-12-01T00:00:00Z"}))]
pub struct BackfillRange {
    from: Timestamp,
    to: Timestamp,
}

/// Queues a run for every occurrence in a past range that has not run, to run one at a time in order.
#[utoipa::path(post, path = "/schedules/{id}/backfill", tag = "schedules", params(("id" = Uuid, Path)), request_body = BackfillRange, responses(
    (status = 202, description = "Queued", body = Backfill),
    (status = 404, description = "No such schedule", body = ErrorBody),
))]
pub async fn backfill_schedule(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    JsonBody(range): JsonBody<BackfillRange>,
) -> Result<(StatusCode, Json<Backfill>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.store.backfill_schedule(id, range.from, range.to).await?)))
}

/// `count` and `from` of a preview.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Occurrences to list: 1 to 1,000, 10 by default.
    count: Option<usize>,
    /// List occurrences after this instant (now by default; the schedule's `start_at` when that is later).
    from: Option<Timestamp>,
}

/// The next occurrences of a schedule.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Occurrences {
    /// Due times (RFC 3339, UTC), jitter left out.
    pub occurrences: Vec<String>,
    /// The instant they were counted from: `from`, or the schedule's `start_at` when that is later.
    #[serde(with = "recur_common::model::serde_instant")]
    pub from: Timestamp,
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
fn occurrences(schedule: &Schedule, query: &PreviewQuery, now: Timestamp) -> Result<Json<Occurrences>, ApiError> {
    let from = query.from.unwrap_or(now);
    let occurrences = schedule.upcoming(from, query.count()?).into_iter().map(rfc3339).collect();
    Ok(Json(Occurrences { occurrences, from: schedule.counted_from(from) }))
}

/// The next occurrences of a schedule, DST shifts and `end_at` included.
#[utoipa::path(get, path = "/schedules/{id}/upcoming", tag = "schedules", params(("id" = Uuid, Path), PreviewQuery), responses(
    (status = 200, description = "The occurrences", body = Occurrences),
    (status = 404, description = "No such schedule", body = ErrorBody),
))]
pub async fn upcoming_occurrences(
    State(state): State<AppState>,
    PathId(id): PathId<Uuid>,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> Result<Json<Occurrences>, ApiError> {
    let schedule = state.store.inspect().schedule(id).await?;
    occurrences(&schedule, &query, state.store.clock().now())
}

/// The occurrences a create body would have, without saving it (its workflow need not exist yet).
#[utoipa::path(post, path = "/schedules/preview", tag = "schedules", params(PreviewQuery), request_body = NewSchedule, responses(
    (status = 200, description = "The occurrences", body = Occurrences),
))]
pub async fn preview_schedule(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PreviewQuery>,
    JsonBody(new): JsonBody<NewSchedule>,
) -> Result<Json<Occurrences>, ApiError> {
    let now = state.store.clock().now();
    let schedule = new.into_schedule(Uuid::nil(), "preview", now)?;
    occurrences(&schedule, &query, now)
}
