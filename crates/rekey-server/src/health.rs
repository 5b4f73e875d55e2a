//! `/healthz` (the process answers), `/readyz` (the node can make progress: store reachable,
//! recovery ended, scheduler ticking, no worker stuck, not stopping; see [`crate::liveness`])
//! and `/metrics` (Prometheus text format).

use crate::{coalesce::Buffered, error::ApiError, AppState};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::time::Duration;
use std::{fmt::Write, sync::atomic::Ordering};
use utoipa::ToSchema;
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

/// How long the readiness probe waits for the store.
const STORE_PROBE: Duration = Duration::from_secs(3);

/// What `/readyz` answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready`, `not ready` or `stopping`.
    status: &'static str,
    /// Why the node is not ready (empty when it is).
    problems: Vec<String>,
    /// This process as lease owners name it (`node:pid:start`).
    node: String,
    /// The store's backend, `sqlite` or `postgres`.
    store: &'static str,
    /// Whether the start-up recovery still runs (the node serves meanwhile, not ready).
    recovering: bool,
    /// The scheduler on this node.
    scheduler: SchedulerView,
    /// The workers of this node holding leases.
    workers: WorkersView,
}

/// The scheduler's liveness.
#[derive(Debug, Serialize, ToSchema)]
struct SchedulerView {
    /// Whether it runs on this node.
    enabled: bool,
    /// When the last tick ended.
    last_tick_at: Option<DateTime<Utc>>,
    /// Why the last tick failed (or stopped starting work), if it did.
    last_tick_failure: Option<String>,
    /// How long the tick under way has run, in milliseconds.
    tick_running_ms: Option<u64>,
    /// Ticks completed since start.
    ticks: u64,
}

/// Lease holders of this node.
#[derive(Debug, Serialize, ToSchema)]
struct WorkersView {
    /// Workers holding a lease now.
    active: usize,
    /// Workers that made no progress for longer than `stall_after_ms`.
    stuck: usize,
    /// `scheduler.stall_after`, in milliseconds.
    stall_after_ms: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Ready when the node can make progress: the vault is unlocked and its store answers, the
/// start-up recovery has ended, the scheduler ticks (its last tick worked, and no tick runs
/// long with no worker moving), no worker is stuck, and the server is not stopping.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready, or stopping; `problems` says why", body = Readiness)))]
async fn ready(State(s): State<AppState>) -> Response {
    let r = readiness(&s).await;
    let code = if r.status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(r)).into_response()
}

async fn readiness(s: &AppState) -> Readiness {
    let cfg = &s.config.scheduler;
    let stall_after = cfg.stall_after.duration();
    let mut problems = Vec::new();
    let recovering = s.liveness.recovering();
    if recovering {
        problems.push("the start-up recovery of unfinished rotations is running".to_owned());
    }
    match tokio::time::timeout(STORE_PROBE, s.engine.vault_present()).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => problems.push("the database holds no vault".to_owned()),
        Ok(Err(e)) => problems.push(format!("the store is unreachable: {e}")),
        Err(_) => problems.push(format!("the store did not answer within {} s", STORE_PROBE.as_secs())),
    }
    let workers = s.engine.workers();
    let stuck = workers.iter().filter(|w| w.idle_for > stall_after).count();
    if stuck > 0 {
        problems.push(format!("{stuck} worker(s) made no progress for more than {} s", stall_after.as_secs()));
    }
    let facts = s.liveness.scheduler();
    let least_idle = workers.iter().map(|w| w.idle_for).min();
    problems.extend(facts.stalled(cfg.interval.duration(), stall_after, least_idle));
    if let Some(failure) = facts.last.as_ref().and_then(|l| l.failure.clone()) {
        problems.push(format!("the last scheduler tick failed: {failure}"));
    }
    let status = if s.engine.stopping() {
        "stopping"
    } else if problems.is_empty() {
        "ready"
    } else {
        "not ready"
    };
    Readiness {
        status,
        problems,
        node: s.engine.lease_settings().process(),
        store: s.engine.backend(),
        recovering,
        scheduler: SchedulerView {
            enabled: facts.running_for.is_some(),
            last_tick_at: facts.last.as_ref().map(|l| l.at),
            last_tick_failure: facts.last.and_then(|l| l.failure),
            tick_running_ms: facts.tick_running_for.map(ms),
            ticks: s.ticks.load(Ordering::Relaxed),
        },
        workers: WorkersView { active: workers.len(), stuck, stall_after_ms: ms(stall_after) },
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
    // Every scrape answers alike: scrapes made at once are answered once (`crate::coalesce`).
    let answer = s.reads.get(String::from("/metrics"), Buffered::shareable, || async {
        Buffered::of(match render(&s).await {
            Ok(text) => ([("content-type", "text/plain; version=0.0.4")], text).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        })
        .await
    });
    answer.await.response()
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
async fn render(s: &AppState) -> rekey_engine::Result<String> {
    let mut out = String::new();
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
    let _ = writeln!(
        out,
        "# HELP rekey_api_shared_answers_total Reads answered with an identical read's answer, computed after they \
         arrived (lists and /metrics requested at once).\n# TYPE rekey_api_shared_answers_total counter\n\
         rekey_api_shared_answers_total {}",
        s.reads.shared()
    );
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
    lease_metrics(&mut out, s);
    // Counted as the account list counts its `overdue` and `heartbeat=failing` filters.
    let gauges = s.engine.account_gauges().await?;
    let _ = writeln!(out, "# HELP rekey_overdue_accounts Accounts whose scheduled rotation is due or past due.");
    let _ = writeln!(out, "# TYPE rekey_overdue_accounts gauge\nrekey_overdue_accounts {}", gauges.overdue);
    let _ = writeln!(out, "# HELP rekey_accounts_heartbeat_failing Accounts whose last heartbeat found problems.");
    let _ = writeln!(
        out,
        "# TYPE rekey_accounts_heartbeat_failing gauge\nrekey_accounts_heartbeat_failing {}",
        gauges.heartbeat_failing
    );
    let _ = writeln!(out, "# HELP rekey_account_last_success_timestamp_seconds Last successful rotation per account.");
    let _ = writeln!(out, "# TYPE rekey_account_last_success_timestamp_seconds gauge");
    for a in &gauges.last_success {
        let _ = writeln!(
            out,
            "rekey_account_last_success_timestamp_seconds{{account=\"{}\",provider=\"{}\",user=\"{}\",kind=\"{}\"}} {}",
            esc(&a.id),
            esc(&a.provider),
            esc(&a.user_name),
            esc(&a.kind),
            a.at.timestamp()
        );
    }
    Ok(out)
}

/// Lease takeovers, failover time, fenced workers and lease holders of this process.
fn lease_metrics(out: &mut String, s: &AppState) {
    let (takeovers, failover) = rekey_engine::stats::takeovers();
    let _ = writeln!(
        out,
        "# HELP rekey_lease_takeovers_total Leases this process took over from a holder that stopped renewing."
    );
    let _ = writeln!(out, "# TYPE rekey_lease_takeovers_total counter\nrekey_lease_takeovers_total {takeovers}");
    let _ = writeln!(
        out,
        "# HELP rekey_failover_seconds Time from a stopped holder's last lease renewal to this process taking the work over."
    );
    let _ = writeln!(out, "# TYPE rekey_failover_seconds histogram");
    let mut cumulative = 0;
    for (bound, n) in rekey_engine::stats::FAILOVER_BUCKETS.iter().zip(failover.buckets) {
        cumulative += n;
        let _ = writeln!(out, "rekey_failover_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "rekey_failover_seconds_bucket{{le=\"+Inf\"}} {}", failover.count);
    let _ =
        writeln!(out, "rekey_failover_seconds_sum {}\nrekey_failover_seconds_count {}", failover.sum, failover.count);
    let _ = writeln!(out, "# HELP rekey_fenced_workers_total Workers of this process fenced off: their lease was taken over while they were paused or cut off.");
    let _ = writeln!(
        out,
        "# TYPE rekey_fenced_workers_total counter\nrekey_fenced_workers_total {}",
        rekey_engine::stats::fenced()
    );
    let _ = writeln!(out, "# HELP rekey_abandoned_calls_total Side effects (IAM calls, deliveries) this process gave up on before the lease they were made under could expire.");
    let _ = writeln!(
        out,
        "# TYPE rekey_abandoned_calls_total counter\nrekey_abandoned_calls_total {}",
        rekey_engine::stats::abandoned()
    );
    let stall_after = s.config.scheduler.stall_after.duration();
    let workers = s.engine.workers();
    let stuck = workers.iter().filter(|w| w.idle_for > stall_after).count();
    let _ = writeln!(
        out,
        "# HELP rekey_workers Workers of this process holding a lease, and those stuck (no progress for stall_after)."
    );
    let _ = writeln!(out, "# TYPE rekey_workers gauge\nrekey_workers{{state=\"active\"}} {}", workers.len());
    let _ = writeln!(out, "rekey_workers{{state=\"stuck\"}} {stuck}");
    if let Some(last) = s.liveness.scheduler().last {
        let _ = writeln!(out, "# HELP rekey_scheduler_last_tick_timestamp_seconds When the last scheduler tick ended.");
        let _ = writeln!(out, "# TYPE rekey_scheduler_last_tick_timestamp_seconds gauge");
        let _ = writeln!(out, "rekey_scheduler_last_tick_timestamp_seconds {}", last.at.timestamp());
    }
}
