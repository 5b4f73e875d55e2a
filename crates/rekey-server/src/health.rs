//! `/healthz` (the process answers), `/readyz` (vault unlocked, store reachable, not stopping)
//! and `/metrics` (Prometheus text format).

use crate::{error::ApiError, AppState};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use rekey_store::AccountFilter;
use serde_json::json;
use std::{fmt::Write, sync::atomic::Ordering};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The health and metrics routes (documented in the OpenAPI document; not behind the API's
/// guard: the probes answer anyone, `/metrics` checks its token itself).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(ready)).routes(routes!(metrics))
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Alive")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The vault is unlocked, the store reachable and the server not stopping.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
async fn ready(State(s): State<AppState>) -> Response {
    if s.engine.stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "stopping" }))).into_response();
    }
    match s.engine.store().header().await {
        Ok(Some(_)) => Json(json!({ "status": "ready", "store": s.engine.store().backend() })).into_response(),
        Ok(None) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "no vault" }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "store unreachable" }))).into_response()
        }
    }
}

/// Prometheus metrics. They name every account of every folder, so they take a token not
/// confined to folders (any role), unless `public_metrics` is set.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "A token confined to folders", body = crate::error::ErrorBody)))]
async fn metrics(State(s): State<AppState>, req: axum::extract::Request) -> Response {
    if !s.config.public_metrics {
        let source = crate::throttle::source(req.extensions());
        match crate::throttle::authenticate(&s, source, req.headers()).await {
            Err(refused) => return refused,
            Ok(caller) if caller.scoped() => {
                return ApiError::forbidden("/metrics spans every folder; this token is confined to some")
                    .into_response()
            }
            Ok(_) => {}
        }
    }
    match render(&s).await {
        Ok(text) => ([("content-type", "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The pace of each provider's AWS calls (per bucket: iam, iam-mutating, sts), the calls it
/// throttled, the time calls waited for it, and how long new keys took to work.
fn pace_metrics(out: &mut String) {
    let paces = rekey_aws::pace::paces();
    let series = [
        ("rekey_aws_pace_calls_per_second", "gauge", "The pace each provider's AWS calls are sent at now, by bucket."),
        ("rekey_aws_throttled_total", "counter", "AWS calls answered Throttling (each sent again at a slower pace)."),
        ("rekey_aws_pace_wait_seconds_total", "counter", "Time AWS calls waited for their provider's pace."),
    ];
    for (i, (name, kind, help)) in series.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (provider, buckets) in &paces {
            for b in buckets {
                let value = match i {
                    0 => b.rate,
                    1 => b.throttled as f64,
                    _ => b.waited,
                };
                let labels = format!("provider=\"{}\",bucket=\"{}\"", esc(provider), b.bucket.as_str());
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    }
    let h = rekey_engine::stats::propagation();
    let _ = writeln!(
        out,
        "# HELP rekey_key_propagation_seconds Time from CreateAccessKey to the new key's first successful use."
    );
    let _ = writeln!(out, "# TYPE rekey_key_propagation_seconds histogram");
    let mut cumulative = 0;
    for (bound, n) in rekey_engine::stats::PROPAGATION_BUCKETS.iter().zip(h.buckets) {
        cumulative += n;
        let _ = writeln!(out, "rekey_key_propagation_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "rekey_key_propagation_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ =
        writeln!(out, "rekey_key_propagation_seconds_sum {}\nrekey_key_propagation_seconds_count {}", h.sum, h.count);
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition: counters of this process, gauges read from the store.
async fn render(s: &AppState) -> Result<String, rekey_store::StoreError> {
    let mut out = String::new();
    let now = s.engine.clock().now();
    let _ = writeln!(out, "# HELP rekey_rotations_total Rotations worked by this process, by outcome.");
    let _ = writeln!(out, "# TYPE rekey_rotations_total counter");
    for (outcome, n) in rekey_engine::stats::outcomes() {
        let _ = writeln!(out, "rekey_rotations_total{{outcome=\"{}\"}} {n}", esc(&outcome));
    }
    let _ = writeln!(out, "# HELP rekey_rotation_phase_seconds Time from one journaled phase to the next.");
    let _ = writeln!(out, "# TYPE rekey_rotation_phase_seconds histogram");
    for ((kind, phase), h) in rekey_engine::stats::phases() {
        let labels = format!("kind=\"{}\",phase=\"{}\"", esc(&kind), esc(&phase));
        let mut cumulative = 0;
        for (bound, n) in rekey_engine::stats::BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let _ = writeln!(out, "rekey_rotation_phase_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "rekey_rotation_phase_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "rekey_rotation_phase_seconds_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(out, "rekey_rotation_phase_seconds_count{{{labels}}} {}", h.count);
    }
    pace_metrics(&mut out);
    let _ = writeln!(out, "# HELP rekey_aws_errors_total AWS call failures, by operation and error code.");
    let _ = writeln!(out, "# TYPE rekey_aws_errors_total counter");
    for ((op, code), n) in rekey_aws::error_counts() {
        let _ = writeln!(out, "rekey_aws_errors_total{{operation=\"{}\",code=\"{}\"}} {n}", esc(&op), esc(&code));
    }
    let counters = [
        ("rekey_heartbeat_failures_total", "Heartbeats that failed or found problems.", &s.heartbeat_failures),
        ("rekey_scheduler_ticks_total", "Scheduler ticks completed.", &s.ticks),
        ("rekey_scheduler_tick_failures_total", "Scheduler ticks that failed.", &s.tick_failures),
        ("rekey_notifications_total", "Notifications sent.", &s.notifications.sent),
        ("rekey_notification_failures_total", "Notification rounds that failed.", &s.notifications.failed),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "# HELP rekey_export_events_total Audit events sent by each SIEM export.");
    let _ = writeln!(out, "# TYPE rekey_export_events_total counter");
    let exports = s.exports.snapshot();
    for (name, sent, _) in &exports {
        let _ = writeln!(out, "rekey_export_events_total{{export=\"{}\"}} {sent}", esc(name));
    }
    let _ = writeln!(out, "# HELP rekey_export_failures_total Export rounds that failed (retried next round).");
    let _ = writeln!(out, "# TYPE rekey_export_failures_total counter");
    for (name, _, failed) in &exports {
        let _ = writeln!(out, "rekey_export_failures_total{{export=\"{}\"}} {failed}", esc(name));
    }
    let overdue = s.engine.store().due_accounts(now, i64::MAX).await?.len();
    let _ = writeln!(out, "# HELP rekey_overdue_accounts Accounts whose scheduled rotation is due or past due.");
    let _ = writeln!(out, "# TYPE rekey_overdue_accounts gauge\nrekey_overdue_accounts {overdue}");
    let accounts = s.engine.store().accounts(&AccountFilter::default()).await?;
    let failing = accounts.iter().filter(|a| a.heartbeat.as_ref().is_some_and(|h| h.status != "ok")).count();
    let _ = writeln!(out, "# HELP rekey_accounts_heartbeat_failing Accounts whose last heartbeat found problems.");
    let _ = writeln!(out, "# TYPE rekey_accounts_heartbeat_failing gauge\nrekey_accounts_heartbeat_failing {failing}");
    let _ = writeln!(out, "# HELP rekey_account_last_success_timestamp_seconds Last successful rotation per account.");
    let _ = writeln!(out, "# TYPE rekey_account_last_success_timestamp_seconds gauge");
    for a in accounts.iter().filter(|a| a.last_rotated_at.is_some()) {
        let at = a.last_rotated_at.map_or(0, |t| t.timestamp());
        let _ = writeln!(
            out,
            "rekey_account_last_success_timestamp_seconds{{account=\"{}\",provider=\"{}\",user=\"{}\",kind=\"{}\"}} {at}",
            a.id,
            esc(a.provider.as_str()),
            esc(a.user_name.as_str()),
            a.kind
        );
    }
    Ok(out)
}
