//! What every HTTP answer gets, whatever route (or none) produced it: a request line longer
//! than [`MAX_URI`] is refused (414) before routing; every error answer is the API's
//! `{code, message, hint}` JSON, including the ones the framework writes itself (405 for a
//! wrong method, 413, a 422 becomes 400); API answers are never stored by caches
//! (`Cache-Control: no-store`: revealed secrets and checked-out passwords must not linger in a
//! browser's or a proxy's cache); under TLS every answer carries HSTS.

use crate::{error::ApiError, AppState};
use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{
        header::{CACHE_CONTROL, CONTENT_TYPE, STRICT_TRANSPORT_SECURITY},
        HeaderValue, StatusCode,
    },
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Longest request target (path and query) accepted, in bytes.
pub const MAX_URI: usize = 8 * 1024;

/// Longest framework error text carried over into an error's message.
const MAX_MESSAGE: usize = 1024;

const HSTS: &str = "max-age=31536000";

/// The middleware (outermost layer of [`crate::app`]).
pub(crate) async fn policy(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let api = !req.uri().path().starts_with("/ui");
    let mut response = if req.uri().to_string().len() > MAX_URI {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is longer than {MAX_URI} bytes"),
            "send long values in a JSON body, or shorten the query string",
        )
        .into_response()
    } else {
        as_json_error(next.run(req).await).await
    };
    let headers = response.headers_mut();
    if api {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if s.config.tls_cert.is_some() {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}

/// An error answer that is not JSON yet (the framework's own: a rejection, 405, 413) rewritten
/// as `{code, message, hint}`, keeping its headers (e.g. `Allow`); 422 becomes 400.
async fn as_json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, MAX_MESSAGE).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    let (code, hint) = describe(status);
    let message = match text {
        Ok(t) if !t.is_empty() => t,
        _ => status.canonical_reason().unwrap_or("request failed").to_owned(),
    };
    let rewritten = ApiError::new(status, code, message, hint).into_response();
    parts.status = status;
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let (new_parts, body) = rewritten.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, Body::new(body))
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "the Allow header lists the methods of this path; /openapi.json lists all")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request bodies are at most 2 MiB"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send Content-Type: application/json"),
        StatusCode::NOT_FOUND => ("not_found", "/openapi.json lists the API; the web console is at /ui/"),
        s if s.is_server_error() => ("internal", "see the server's log"),
        _ => ("usage", "see /openapi.json for this operation's parameters and body"),
    }
}
