//! Compliance reports and the audit log (admin and auditor tokens not confined to folders).

use super::{
    extract::Params,
    paged::{self, Paged},
    require_unscoped,
};
use crate::{
    auth::{Action, Caller},
    error::{ApiResult, ErrorBody},
    AppState,
};
use axum::{extract::State, Extension, Json};
use rekey_domain::Whole;
use rekey_engine::{
    discover::Tags,
    report::{Compliance, ReportOptions},
    ChainReport,
};
use rekey_store::{
    listing::{AuditQuery, KeyKind},
    AuditRecord,
};
use serde::{Deserialize, Deserializer};
use utoipa::IntoParams;

/// Which providers to report on.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// One provider; all when absent.
    provider: Option<String>,
    /// Credentials older than this many days are overdue, 1 to 3650 (default 90).
    #[serde(default, deserialize_with = "days")]
    max_age_days: Option<i64>,
    /// Credentials unused for this many days are flagged, 1 to 3650 (default 90).
    #[serde(default, deserialize_with = "days")]
    unused_days: Option<i64>,
}

/// `max_age_days` and `unused_days`.
const DAYS: Whole = Whole::new(1, 3650, 90, "the report's window is", "days");

fn days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    DAYS.optional_text(d)
}

/// The compliance report (CIS 1.12/1.14 style) over every IAM user of the providers.
#[utoipa::path(get, path = "/api/v1/reports/compliance", tag = "audit", params(ReportQuery),
    responses((status = 200, description = "The report", body = Compliance),
        (status = 400, description = "A parameter out of range", body = ErrorBody),
        (status = 403, description = "A token confined to folders, or one whose role may not read the audit log", body = ErrorBody)))]
pub async fn compliance(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ReportQuery>,
) -> ApiResult<Json<Compliance>> {
    require_unscoped(&caller, Action::Audit, "a compliance report")?;
    let days = |d: Option<i64>| chrono::Duration::days(d.unwrap_or(90));
    let opts = ReportOptions { max_age: days(q.max_age_days), unused: days(q.unused_days) };
    let providers = match q.provider {
        Some(p) => vec![s.engine.provider(&p.parse()?).await?.name],
        None => s.engine.providers().await?.into_iter().map(|p| p.name).collect(),
    };
    let engine = s.engine.acting_as(caller.actor());
    Ok(Json(engine.compliance(&providers, &opts, &Tags::default()).await?))
}

/// Filters and paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this actor's (`token:ID`, `scheduler`, `cli:USER@HOST`, …).
    actor: Option<String>,
    /// Only this action (`account.reveal`, `account.set`, …).
    action: Option<String>,
    /// Only events about this object (an account id, a provider name, …).
    target: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    #[serde(default, deserialize_with = "paged::limit_param")]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `exact`: count every match for `total` (without it a filtered total stops at 10,000,
    /// `total_exact` false).
    count: Option<String>,
}

/// One page of the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Paged<AuditRecord>),
        (status = 400, description = "A parameter out of range", body = ErrorBody),
        (status = 403, description = "A token confined to folders, or one whose role may not read the audit log", body = ErrorBody)))]
pub async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<EventsQuery>,
) -> ApiResult<Json<Paged<AuditRecord>>> {
    require_unscoped(&caller, Action::Audit, "the audit log")?;
    let limit = paged::limit(q.limit);
    let count = paged::count(q.count.as_deref())?;
    let after = paged::cursor(q.cursor.as_deref(), "seq", KeyKind::Int)?;
    let query = AuditQuery { actor: q.actor, action: q.action, target: q.target };
    let page = s.engine.audit_log_page(&query, limit, after.as_ref(), count).await?;
    Ok(Json(Paged::of(page, |e| e)))
}

/// Verify the audit log's hash chain; 500 with the first broken event if it does not hold.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The chain is intact", body = ChainReport),
        (status = 403, description = "A token confined to folders, or one whose role may not read the audit log", body = ErrorBody),
        (status = 500, description = "The first broken link", body = ErrorBody)))]
pub async fn verify(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<Json<ChainReport>> {
    require_unscoped(&caller, Action::Audit, "the audit log")?;
    Ok(Json(s.engine.verify_audit().await?))
}
