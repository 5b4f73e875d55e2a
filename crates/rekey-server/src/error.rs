//! One error type for every handler: a stable `{code, message, hint}` body with the HTTP status
//! of the engine's error class. Messages never carry secrets (engine errors never do).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use rekey_engine::{Error, ErrorClass};
use serde::Serialize;
use utoipa::ToSchema;

/// A configuration problem, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

pub(crate) fn bad(message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
    ConfigError { message: message.into(), hint: hint.into() }
}

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
    /// The rotation under way, for `rotation_under_way`.
    pub rotation: Option<String>,
}

impl ApiError {
    /// Any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), hint: Some(hint.into()), rotation: None }
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
            "send Authorization: Bearer rk_… (create one with `rekey token create`)",
        )
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, "use a token whose role and folders cover this")
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "usage", message, hint)
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
            ErrorClass::Storage => (StatusCode::SERVICE_UNAVAILABLE, "storage"),
            ErrorClass::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        // Another worker holds the account: the answer names the rotation under way.
        if let Error::Busy { rotation, .. } = &e {
            let rotation = rotation.clone();
            return Self { status, code: "rotation_under_way", message: e.to_string(), hint: e.hint(), rotation };
        }
        Self { status, code, message: e.to_string(), hint: e.hint(), rotation: None }
    }
}

impl From<rekey_store::StoreError> for ApiError {
    fn from(e: rekey_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: `usage`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `rotation_under_way`, `too_many_requests`, `method_not_allowed`, `uri_too_long`, …
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// With `rotation_under_way` (409): the id of the rotation another worker is running for
    /// the account (absent while it has not journaled its first phase). Follow it with
    /// `GET /api/v1/rotations/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { code: self.code.into(), message: self.message, hint: self.hint, rotation: self.rotation };
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
