//! The one error envelope of the API: `{"error": {"code", "message", "field"}}`, and for a bulk request
//! refused as a whole, `items`: the same three for each item that cannot be accepted, with its `index`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use recur_common::Error;
use serde::Serialize;

/// What a request refused for lack of Redis memory is told.
pub const OUT_OF_MEMORY: &str = "Redis is out of memory (maxmemory reached with the noeviction policy) and \
    refuses writes; nothing was written. Free memory or raise maxmemory, then retry";

/// An error answer. Internal errors are logged here, once, and answered with a generic message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// Per-item errors of a refused bulk request, in order.
    items: Vec<ItemError>,
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "validation_error", "message": "interval_seconds must be at least 1", "field": "interval_seconds"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `validation_error`, `not_found`, `conflict`, `unauthorized`, ...
    pub code: &'static str,
    pub message: String,
    /// The request field at fault (`items[3].interval_seconds`), when one is.
    #[schema(required = true)]
    pub field: Option<String>,
    /// For a bulk request refused as a whole (`invalid_items`): every item that cannot be accepted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemError>,
}

/// Why one item of a bulk request cannot be accepted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemError {
    /// The item's position in `items`, from 0.
    pub index: usize,
    pub code: &'static str,
    pub message: String,
    #[schema(required = true)]
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> Self {
        Self { status, code, message: message.into(), field, items: Vec::new() }
    }

    /// 400 `validation_error`, optionally about one field.
    pub fn validation(message: impl Into<String>, field: Option<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message, field)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, None)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or unknown bearer token", None)
    }

    /// 413 `payload_too_large`.
    pub fn too_large(limit: usize) -> Self {
        let message = format!("the request body is larger than {limit} bytes");
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message, None)
    }

    /// 403 `forbidden`: a request this API does not serve whoever sends it (cross-site, foreign host).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, None)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type() -> Self {
        let message = "request bodies must be JSON, sent with Content-Type: application/json";
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message, None)
    }

    /// 414 `uri_too_long`.
    pub fn uri_too_long(limit: usize) -> Self {
        let message = format!("the request's path and query are longer than {limit} bytes");
        Self::new(StatusCode::URI_TOO_LONG, "uri_too_long", message, None)
    }

    /// 408 `request_timeout`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        let message = format!("the request took longer than {} s (RECUR_API_REQUEST_TIMEOUT_SECONDS)", limit.as_secs());
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message, None)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this path does not accept that method", None)
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { .. } => Self::not_found(error.to_string()),
            Error::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message, None),
            Error::Invalid { code, field, message } => {
                Self::new(StatusCode::BAD_REQUEST, code, message, field.map(String::from))
            }
            Error::AlreadyRunning(_) => Self::new(StatusCode::CONFLICT, "already_running", error.to_string(), None),
            Error::InvalidItems { items } => {
                let message = format!("{} of the items cannot be accepted; nothing was created", items.len());
                Self {
                    items: items
                        .into_iter()
                        .map(|(index, error)| {
                            let error = Self::from(error);
                            ItemError { index, code: error.code, message: error.message, field: error.field }
                        })
                        .collect(),
                    ..Self::new(StatusCode::BAD_REQUEST, "invalid_items", message, Some("items".to_string()))
                }
            }
            Error::UnknownWorkflow(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_workflow",
                error.to_string(),
                Some("workflow_id".to_string()),
            ),
            Error::Corrupt { ref key, ref detail } => {
                tracing::error!(record.key = %key, "{key} does not decode: {detail}");
                let message = format!("the stored record {key} cannot be read ({detail}); repair or delete it");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt_record", message, None)
            }
            Error::Redis(_) if error.is_out_of_memory() => {
                tracing::warn!(error = %error, "request refused: Redis is out of memory");
                Self::unavailable(OUT_OF_MEMORY)
            }
            // Redis is down or restarting: the request may succeed when retried.
            Error::Unreachable { .. } => Self::unavailable("Redis is unavailable; retry shortly"),
            Error::Redis(error) if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() => {
                tracing::warn!(error = %error, "request failed: Redis is unavailable");
                Self::unavailable("Redis is unavailable; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "internal error: {other:?}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error; the server log has the details",
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail { code: self.code, message: self.message, field: self.field, items: self.items };
        (self.status, Json(ErrorBody { error })).into_response()
    }
}
