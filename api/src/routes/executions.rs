use axum::{Json, extract::State, http::StatusCode};
use jiff::Timestamp;
use recur_common::{
    inspect::{ExecutionFilter, Page},
    model::{Execution, ExecutionId, ExecutionState},
    store::Cancelled,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use crate::{
    error::{ApiError, ErrorBody},
    extract::{PageQuery, PathId, QueryParams, page_limit},
};

/// A schedule's executions, newest first, a page at a time.
#[utoipa::path(get, path = "/schedules/{id}/executions", tag = "executions", params(("id" = Uuid, Path), PageQuery), responses(
    (status = 200, description = "One page", body = Page<Execution>),
    (status = 404, description = "No such schedule", body = ErrorBody),
))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only executions of this workflow.
    workflow_id: Option<Uuid>,
    /// Only executions of this schedule (or ad-hoc run).
    schedule_id: Option<Uuid>,
    /// Only executions in this state: one a started execution has (`queued` and `waiting_for_handler` are
    /// refused: a listing holds executions that started).
    state: Option<ExecutionState>,
    /// Only executions started at or after this instant.
    since: Option<Timestamp>,
    /// Items a page holds at most: 1 to 500, 50 by default.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The run history across schedules and ad-hoc runs, newest first.
#[utoipa::path(get, path = "/executions", tag = "executions", params(HistoryQuery), responses(
    (status = 200, description = "One page", body = Page<Execution>),
))]
pub async fn list_executions(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Json<Page<Execution>>, ApiError> {
    let limit = page_limit(query.limit)?;
    if let Some(state @ (ExecutionState::Queued | ExecutionState::WaitingForHandler)) = query.state {
        return Err(ApiError::validation(
            format!(
                "listings hold executions that started, so none is {}: find a queued run by its id (GET \
                 /executions/{{id}}), and count the jobs waiting in GET /status",
                state.as_str()
            ),
            Some("state".to_string()),
        ));
    }
    let filter = ExecutionFilter {
        workflow_id: query.workflow_id,
        schedule_id: query.schedule_id,
        state: query.state,
        since: query.since,
    };
    Ok(Json(state.store.inspect().history(&filter, limit, query.cursor.as_deref()).await?))
}

/// One execution with its step log.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(("id" = ExecutionId, Path)), responses(
    (status = 200, description = "The execution", body = Execution),
    (status = 404, description = "No such execution", body = ErrorBody),
))]
pub async fn show_execution(
    State(state): State<AppState>,
    PathId(id): PathId<String>,
) -> Result<Json<Execution>, ApiError> {
    Ok(Json(state.store.inspect().execution(&id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// Count the cancelled run as a failure (retried, and towards `dead`) rather than as cancelled.
    #[serde(default)]
    count_as_failure: bool,
}

/// A cancel request on its way to the worker running the execution, or a queued run cancelled at once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CancelRequested {
    pub execution_id: String,
    pub cancel_requested: bool,
    pub count_as_failure: bool,
    /// True when the execution had not started (a queued ad-hoc run): it is `cancelled` already and will
    /// not run.
    pub cancelled_before_start: bool,
}

/// Asks the worker running an execution to stop it, or cancels a queued ad-hoc run before it starts;
/// answered once the request is recorded.
#[utoipa::path(post, path = "/executions/{id}/cancel", tag = "executions", params(("id" = ExecutionId, Path), CancelQuery), responses(
    (status = 202, description = "The worker has been asked to stop it, or the queued run is cancelled", body = CancelRequested),
    (status = 404, description = "No such execution", body = ErrorBody),
    (status = 409, description = "The execution has ended, or is a schedule's next run (pause the schedule instead)", body = ErrorBody),
))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    PathId(id): PathId<String>,
    QueryParams(query): QueryParams<CancelQuery>,
) -> Result<(StatusCode, Json<CancelRequested>), ApiError> {
    let cancelled = state.store.cancel_execution(&id, query.count_as_failure).await?;
    let count_as_failure = query.count_as_failure;
    let cancelled_before_start = cancelled == Cancelled::BeforeStart;
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelRequested { execution_id: id, cancel_requested: true, count_as_failure, cancelled_before_start }),
    ))
}
