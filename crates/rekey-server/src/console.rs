//! The web console: one page and its script and style, compiled into the binary and served
//! without a token (they hold no data). The page signs in with an API token, which it keeps in
//! the tab's session storage and sends only to this origin's `/api/v1`; every view is a call of
//! the documented API, so roles, folders and auditing apply exactly as for any other client.
//! A strict Content-Security-Policy allows only these same-origin files (no inline script).
//!
//! The script is a handful of ES modules (`app.js` imports one module per view); every file of
//! `console/` is listed in [`FILES`] and served from `/ui/NAME`.

use axum::{
    extract::Path,
    http::{header, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};

const INDEX: &str = include_str!("console/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/ui/` but the page itself: name, content type, body.
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("console/app.js")),
    ("api.js", JS, include_str!("console/api.js")),
    ("ui.js", JS, include_str!("console/ui.js")),
    ("overview.js", JS, include_str!("console/overview.js")),
    ("accounts.js", JS, include_str!("console/accounts.js")),
    ("account.js", JS, include_str!("console/account.js")),
    ("rotations.js", JS, include_str!("console/rotations.js")),
    ("audit.js", JS, include_str!("console/audit.js")),
    ("report.js", JS, include_str!("console/report.js")),
    ("targets.js", JS, include_str!("console/targets.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("console/app.css")),
    ("favicon.svg", "image/svg+xml", include_str!("console/favicon.svg")),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A file of [`FILES`] by name, or 404.
async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => asset(content_type, body),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

/// `/` (redirects to the console), `/ui/`, `/ui/favicon.svg` (also as `/favicon.ico`), and
/// `/ui/NAME` for each of [`FILES`].
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/favicon.ico", get(|| async { Redirect::to("/ui/favicon.svg") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/ui/{name}", get(file))
}
