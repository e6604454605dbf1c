//! The one error envelope of the API: `{"error": {"code", "message", "field"}}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use recur_common::Error;
use serde_json::json;

/// An error answer. Internal errors are logged here, once, and answered with a generic message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// 400 `validation_error`, optionally about one field.
    pub fn validation(message: impl Into<String>, field: Option<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "validation_error", message: message.into(), field }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into(), field: None }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "missing or unknown bearer token".to_string(),
            field: None,
        }
    }

    /// 413 `payload_too_large`.
    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("the request body is larger than {limit} bytes"),
            field: None,
        }
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: "this path does not accept that method".to_string(),
            field: None,
        }
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: StatusCode::SERVICE_UNAVAILABLE, code: "unavailable", message: message.into(), field: None }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { .. } => Self::not_found(error.to_string()),
            Error::Conflict(message) => Self { status: StatusCode::CONFLICT, code: "conflict", message, field: None },
            Error::Invalid { code, field, message } => {
                Self { status: StatusCode::BAD_REQUEST, code, message, field: field.map(String::from) }
            }
            Error::AlreadyRunning(_) => {
                Self { status: StatusCode::CONFLICT, code: "already_running", message: error.to_string(), field: None }
            }
            Error::UnknownWorkflow(_) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "unknown_workflow",
                message: error.to_string(),
                field: Some("workflow_id".to_string()),
            },
            Error::UnknownHandler { field, message } => {
                Self { status: StatusCode::UNPROCESSABLE_ENTITY, code: "unknown_handler", message, field: Some(field) }
            }
            // Redis is down or restarting: the request may succeed when retried.
            Error::Unreachable { .. } => Self::unavailable("Redis is unavailable; retry shortly"),
            Error::Redis(error) if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() => {
                tracing::warn!(error = %error, "request failed: Redis is unavailable");
                Self::unavailable("Redis is unavailable; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "internal error: {other:?}");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "internal_error",
                    message: "internal error; the server log has the details".to_string(),
                    field: None,
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "field": self.field } });
        (self.status, Json(body)).into_response()
    }
}
