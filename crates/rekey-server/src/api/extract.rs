//! Request extractors that answer bad input in the API's error shape: a JSON body ([`Body`]),
//! the query string ([`Params`]) and path parameters ([`Param`]). Axum's own extractors answer
//! in plain text (and a wrongly typed body as 422); these answer 400 `usage` (415 for a body
//! that is not JSON) with the parser's message and a hint. The structs they fill refuse unknown
//! fields, so a misspelt option is an error instead of being ignored.

use crate::{error::ApiError, AppState};
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::{header::CONTENT_TYPE, request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

/// A JSON request body; an empty body is `T::default()` (every body the API takes is optional).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(is_json);
        // A body trickled in slowly would hold the connection: it gets the header timeout.
        let limit = crate::listen::Limits::from(&state.config.limits).header_timeout;
        let bytes = tokio::time::timeout(limit, Bytes::from_request(req, state))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!("the request body did not arrive within {} ms", limit.as_millis()),
                    "send the whole body at once",
                )
            })?
            .map_err(|e| {
                let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "usage" };
                ApiError::new(e.status(), code, e.body_text(), "send a JSON body of at most 2 MiB")
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if json != Some(true) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body is not declared as JSON",
                "send Content-Type: application/json",
            ));
        }
        parse(&bytes).map(Self).map_err(|message| {
            ApiError::bad_request(
                message,
                "see the operation's request body in /openapi.json (unknown fields are refused)",
            )
        })
    }
}

/// `bytes` as `T`, or what was wrong: a body that is JSON but not an object says so (not what
/// the parser expected of it); a bad value names its field and leaves out the parser's position.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let e = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => return de.end().map(|()| v).map_err(|e| format!("invalid JSON body: {e}")),
        Err(e) => e,
    };
    let inner = e.inner();
    if inner.is_data() {
        if let Some(kind) = not_an_object(bytes) {
            return Err(format!("the request body must be a JSON object ({{…}}), not {kind}"));
        }
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let why = inner.to_string();
        let why = why.strip_suffix(&position).unwrap_or(&why);
        let path = e.path().to_string();
        return Err(match path.as_str() {
            "." | "" => format!("invalid request body: {why}"),
            field => format!("invalid request body: {field}: {why}"),
        });
    }
    Err(format!("invalid JSON body: {inner}"))
}

/// What the body is, when it is JSON but not an object.
fn not_an_object(bytes: &[u8]) -> Option<&'static str> {
    match serde_json::from_slice::<serde_json::Value>(bytes).ok()? {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Null => Some("null"),
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// The query string, parsed into `T` (which refuses unknown parameters).
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(q) = Query::<T>::from_request_parts(parts, state).await.map_err(|e| {
            let why = e.body_text();
            let why = why.strip_prefix("Failed to deserialize query string: ").unwrap_or(&why);
            ApiError::bad_request(
                format!("invalid query string: {why}"),
                "see the operation's parameters in /openapi.json (unknown parameters are refused)",
            )
        })?;
        Ok(Self(q))
    }
}

/// One path parameter, as text.
#[derive(Debug)]
pub struct Param(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Param {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(p) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text()), "URL-encode the name"))?;
        Ok(Self(p))
    }
}
