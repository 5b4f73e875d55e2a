//! Compliance reports and the audit log (admin and auditor; tokens not confined to folders).

use super::{require, require_unscoped};
use crate::{
    auth::{Action, Caller},
    error::ApiResult,
    AppState,
};
use axum::{
    extract::{Query, State},
    Extension, Json,
};
use rekey_engine::{discover::Tags, report::ReportOptions};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// Which providers to report on.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// One provider; all when absent.
    provider: Option<String>,
    /// Credentials older than this many days are overdue (default 90).
    max_age_days: Option<i64>,
    /// Credentials unused for this many days are flagged (default 90).
    unused_days: Option<i64>,
}

/// The compliance report (CIS 1.12/1.14 style) over every IAM user of the providers.
#[utoipa::path(get, path = "/api/v1/reports/compliance", tag = "audit", params(ReportQuery),
    responses((status = 200, description = "The report", body = Value)))]
pub async fn compliance(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Audit)?;
    require_unscoped(&caller, "a compliance report")?;
    let providers = match q.provider {
        Some(p) => vec![p.parse()?],
        None => s.engine.providers().await?.into_iter().map(|p| p.name).collect(),
    };
    let days = |d: Option<i64>| chrono::Duration::days(d.unwrap_or(90).clamp(1, 3650));
    let opts = ReportOptions { max_age: days(q.max_age_days), unused: days(q.unused_days) };
    let engine = s.engine.acting_as(caller.actor());
    let report = super::detached(engine, move |e| {
        Box::pin(async move { e.compliance(&providers, &opts, &Tags::default()).await })
    })
    .await?;
    Ok(Json(json!(report)))
}

/// A page of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Events after this sequence number (default 0).
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// Audit events in chain order.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(EventsQuery),
    responses((status = 200, description = "Events", body = Value)))]
pub async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Audit)?;
    require_unscoped(&caller, "the audit log")?;
    let page = s.engine.store().audit_page(q.after.unwrap_or(0), q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(json!(page)))
}

/// Verify the audit log's hash chain; 500 with the first broken event if it does not hold.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The chain is intact", body = Value),
        (status = 500, description = "The first broken link")))]
pub async fn verify(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    require(&caller, Action::Audit)?;
    require_unscoped(&caller, "the audit log")?;
    Ok(Json(json!(s.engine.verify_audit().await?)))
}
