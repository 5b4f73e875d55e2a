//! One error type for every handler: a stable `{code, message, hint}` body with the HTTP status
//! of the engine's error class. Messages never carry secrets (engine errors never do).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use rekey_engine::{Error, ErrorClass};
use serde_json::json;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `not_found`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl ApiError {
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
            hint: Some("send Authorization: Bearer rk_… (create one with `rekey token create`)".into()),
        }
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
            hint: Some("use a token whose role and folders cover this".into()),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "usage", message: message.into(), hint: Some(hint.into()) }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = match e.class() {
            ErrorClass::Usage => (StatusCode::BAD_REQUEST, "usage"),
            ErrorClass::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorClass::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorClass::Auth => (StatusCode::BAD_GATEWAY, "aws_auth"),
            ErrorClass::Upstream => (StatusCode::BAD_GATEWAY, "upstream"),
            ErrorClass::Locked => (StatusCode::SERVICE_UNAVAILABLE, "locked"),
            ErrorClass::Integrity => (StatusCode::INTERNAL_SERVER_ERROR, "integrity"),
            ErrorClass::Findings => (StatusCode::UNPROCESSABLE_ENTITY, "findings"),
            ErrorClass::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        Self { status, code, message: e.to_string(), hint: e.hint() }
    }
}

impl From<rekey_store::StoreError> for ApiError {
    fn from(e: rekey_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code, "message": self.message, "hint": self.hint });
        (self.status, Json(body)).into_response()
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<rekey_domain::ValidationError> for ApiError {
    fn from(e: rekey_domain::ValidationError) -> Self {
        Error::from(e).into()
    }
}
