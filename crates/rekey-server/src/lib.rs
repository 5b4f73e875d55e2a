//! `rekey serve`: the REST API (with tokens, roles and folders), health and metrics endpoints,
//! and the scheduler, over one unlocked [`Engine`].
//!
//! [`app`] builds the router (tests drive it with `oneshot`); [`serve`] binds, optionally
//! wraps connections in TLS, runs the scheduler beside the API, and on SIGTERM stops taking
//! work, lets rotations reach a journal boundary and returns.
//!
//! # Layout
//!
//! - [`config`]: the configuration (defaults → TOML → `REKEY_*` → flags), validated at start.
//! - [`listen`]: connections held to limits; `tls`: HTTPS; [`http`]: what every answer gets.
//! - [`api`]: the routes under `/api/v1` and the OpenAPI document; [`error`]: `{code, message,
//!   hint}` bodies; `audit_log`: group commit of `api.request` events.
//! - [`auth`]: the caller of a request — its bearer token, checked by
//!   [`Engine::verify_token`] in [`auth::authenticate`] — what roles allow, folder scopes;
//!   `throttle`: failed authentication, per source; `token_cache`: tokens verified a moment ago;
//!   `coalesce`: identical reads made at once (account pages, rotations, the audit log,
//!   providers, the overview, `/metrics`) answered once.
//! - `console`: the web console. `health` and [`liveness`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`scheduler`]: the tick loop; `periodic`: rounds at an interval; `jobs`: the exports and
//!   the notifier, built from the configuration before the vault is unlocked.
//! - [`export`]: the audit log to a SIEM. [`notify`]: webhooks for failures and overdue
//!   credentials.

// Lines on stderr go through `say` (the std macros panic on a closed pipe).
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod api;
pub mod audit_log;
pub mod auth;
mod coalesce;
pub mod config;
mod console;
pub mod error;
pub mod export;
mod health;
pub mod http;
mod jobs;
pub mod listen;
pub mod liveness;
pub mod notify;
mod periodic;
pub mod scheduler;
mod throttle;
mod tls;
mod token_cache;

pub use config::{Config, Overrides};
pub use error::ConfigError;
pub use jobs::Jobs;
pub use token_cache::TTL as TOKEN_CACHE_TTL;

use axum::Router;
use rekey_engine::Engine;
use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The unlocked vault, acting as `server`.
    pub engine: Arc<Engine>,
    /// The configuration.
    pub config: Config,
    /// Heartbeats that failed or found problems, since start.
    pub heartbeat_failures: AtomicU64,
    /// Scheduler ticks completed, since start.
    pub ticks: AtomicU64,
    /// Scheduler ticks that failed, since start.
    pub tick_failures: AtomicU64,
    /// What the readiness probe judges the node by.
    pub liveness: liveness::Liveness,
    /// Audit events exported, per export.
    pub exports: Arc<export::ExportStats>,
    /// Notifications sent and failed.
    pub notifications: Arc<notify::NotifyStats>,
    /// Failed authentication, per source (throttling and aggregated audit).
    pub auth_failures: throttle::AuthFailures,
    /// Group commit of the API's audit events.
    audit_writer: audit_log::AuditWriter,
    /// Tokens verified a moment ago.
    token_cache: token_cache::TokenCache,
    /// Identical reads made at once, answered once (`coalesce`).
    reads: coalesce::Coalesce<String, Arc<coalesce::Buffered>>,
    /// Set once the task that writes held-back authentication failures runs.
    failure_flusher: std::sync::OnceLock<()>,
}

/// The handlers' state.
pub type AppState = Arc<Shared>;

impl Shared {
    /// State over `engine` with `config`.
    pub fn new(engine: Arc<Engine>, config: Config) -> AppState {
        Arc::new(Self {
            engine,
            heartbeat_failures: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            tick_failures: AtomicU64::new(0),
            liveness: liveness::Liveness::default(),
            exports: Arc::default(),
            notifications: Arc::default(),
            auth_failures: throttle::AuthFailures::new(&config.auth),
            audit_writer: audit_log::AuditWriter::default(),
            token_cache: token_cache::TokenCache::default(),
            reads: coalesce::Coalesce::default(),
            failure_flusher: std::sync::OnceLock::new(),
            config,
        })
    }

    pub(crate) fn count_heartbeat_failures(&self, n: usize) {
        self.heartbeat_failures.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Writes the authentication failures held back for aggregation (at shutdown; tests).
    pub async fn flush_auth_failures(self: &Arc<Self>) {
        throttle::flush(self, true).await;
    }
}

/// The whole HTTP surface: API, OpenAPI document, health and metrics, the console. Every
/// route but the console's files and `/openapi.json` itself is declared in the OpenAPI
/// document (the in-process tests check each against the roles × folders matrix).
pub fn app(state: AppState) -> Router {
    let (api, doc) = api::router(state.clone());
    let doc = Arc::new(doc);
    Router::new()
        .merge(api)
        .merge(if state.config.console { console::router() } else { Router::new() })
        .route("/openapi.json", axum::routing::get(move || std::future::ready(axum::Json((*doc).clone()))))
        .fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route",
                "/openapi.json lists the API; the web console is at /ui/",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state, http::policy))
}

/// Runs the server until `shutdown` resolves (SIGTERM/ctrl-c in the binary), then stops the
/// scheduler at a journal boundary and drains in-flight requests. A `shutdown` resolved before
/// the server starts serving (a signal during start-up) stops it before it answers or starts
/// any work.
pub async fn serve(
    state: AppState,
    jobs: Jobs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConfigError> {
    let addr = state.config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| ConfigError {
        message: format!("cannot listen on {addr}: {e}"),
        hint: "choose another --listen address or stop what uses it".into(),
    })?;
    serve_on(state, jobs, listener, shutdown).await
}

/// [`serve`] on a listener bound already.
pub async fn serve_on(
    state: AppState,
    jobs: Jobs,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConfigError> {
    let local = listener.local_addr().map_err(|e| ConfigError { message: e.to_string(), hint: String::new() })?;
    let mut shutdown = Box::pin(shutdown);
    // Asked to stop already (a signal during start-up): serve nothing, start nothing.
    if tokio::select! { biased; () = &mut shutdown => true, () = std::future::ready(()) => false } {
        say(format_args!("stopped during start-up, before serving; nothing else was started"));
        return Ok(());
    }
    let tls = match (&state.config.tls_cert, &state.config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let Jobs { exporters, notifier } = jobs;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(warning) = plain_http_warning(local, tls.is_some()) {
        say(format_args!("warning: {warning}"));
    }
    say(format_args!("listening on {scheme}://{local}"));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut background = Vec::new();
    // The node answers (not ready) while it recovers; the scheduler starts once it has.
    state.liveness.set_recovering(true);
    background.push(tokio::spawn(recover_then_schedule(state.clone(), stop_rx.clone())));
    if !exporters.is_empty() {
        let (engine, stats) = (Arc::new(state.engine.acting_as("exporter")), state.exports.clone());
        background.push(tokio::spawn(export::run(engine, exporters, stats, stop_rx.clone())));
    }
    if let Some(n) = notifier {
        let (engine, stats) = (Arc::new(state.engine.acting_as("notifier")), state.notifications.clone());
        background.push(tokio::spawn(notify::run(engine, n, stats, stop_rx.clone())));
    }
    let engine = state.engine.clone();
    let on_shutdown = async move {
        shutdown.await;
        say(format_args!("stopping (rotations stop at their next journal boundary)"));
        engine.request_stop();
        let _ = stop_tx.send(true);
    };
    listen::run(listener, tls, app(state.clone()), listen::Limits::from(&state.config.limits), on_shutdown).await;
    for task in background {
        let _ = task.await;
    }
    state.flush_auth_failures().await;
    say(format_args!("stopped"));
    Ok(())
}

/// A `rekey serve: …` line on stderr. A failed write is dropped: `eprintln!` would panic when
/// stderr is a closed pipe (`rekey serve 2>&1 | head -1`) and take the server down with it.
fn say(text: std::fmt::Arguments<'_>) {
    rekey_engine::stderr::write(format_args!("rekey serve: {text}\n"));
}

/// The start-up recovery of unfinished rotations (while `/readyz` says so), then the scheduler.
async fn recover_then_schedule(state: AppState, stop: tokio::sync::watch::Receiver<bool>) {
    match state.engine.recover().await {
        Ok(reports) => {
            for r in reports.iter().filter(|r| r.outcome != rekey_domain::Outcome::Retiring) {
                say(format_args!("recovered rotation of {}: {}", r.reference, r.outcome));
            }
        }
        Err(e) => tracing::error!(error = %e, "recovery at start failed; the scheduler retries it"),
    }
    state.liveness.set_recovering(false);
    if state.config.scheduler.enabled && !*stop.borrow() {
        scheduler::run(state, stop).await;
    }
}

/// The warning for serving plain HTTP where others can reach it: tokens and secrets would cross
/// the network in the clear.
pub fn plain_http_warning(local: std::net::SocketAddr, tls: bool) -> Option<String> {
    if tls || local.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "serving plain HTTP on {local}, which is not a loopback address: API tokens and secrets cross the network \
         in the clear; set tls_cert and tls_key (--tls-cert/--tls-key), or listen on 127.0.0.1 behind a TLS proxy"
    ))
}
