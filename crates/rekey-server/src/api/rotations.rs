//! `/api/v1/rotations`: the rotation journal, with each rotation's phases (one rotation's changes
//! as they happen: `rotation_events`). A token confined to folders sees the rotations of its
//! accounts only; any other rotation is "not found".

use super::{
    account_for,
    extract::{Param, Params},
    paged::{self, Paged},
    require,
};
use crate::{
    auth::{Action, Caller},
    error::{ApiError, ApiResult, ErrorBody},
    AppState,
};
use axum::{extract::State, Extension, Json};
use rekey_domain::JournalOutcome;
use rekey_engine::AccountRef;
use rekey_store::{
    listing::{KeyKind, RotationQuery},
    Rotation, StoreError,
};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters and paging of the rotation journal.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this account's.
    account: Option<String>,
    /// `done`, `aborted`, `failed` (stopped with an error, unfinished) or `running`.
    outcome: Option<String>,
    /// Only those in this phase (`created`, `retiring`, …).
    phase: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    #[serde(default, deserialize_with = "paged::limit_param")]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `exact`: count every match for `total` (without it a filtered total stops at 10,000,
    /// `total_exact` false).
    count: Option<String>,
}

/// One page of the rotation journal, newest first (of the accounts in the token's folders).
#[utoipa::path(get, path = "/api/v1/rotations", tag = "rotations", params(ListQuery),
    responses((status = 200, description = "A page of rotations", body = Paged<Rotation>),
        (status = 400, description = "A parameter out of range or unknown", body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Paged<Rotation>>> {
    require(&caller, Action::Read)?;
    let limit = paged::limit(q.limit);
    let count = paged::count(q.count.as_deref())?;
    let after = paged::cursor(q.cursor.as_deref(), "started", KeyKind::Int)?;
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            o.parse::<JournalOutcome>()
                .map_err(|e| ApiError::bad_request(format!("outcome={o:?} is not allowed"), e.hint))
        })
        .transpose()?;
    let account = match &q.account {
        Some(a) => Some(account_for(&s, &caller, a, Action::Read).await?.2.id),
        None => None,
    };
    let query = RotationQuery {
        scope: caller.scope(),
        account,
        outcome,
        phase: q.phase.as_deref().map(str::parse).transpose()?,
    };
    let page = s.engine.rotation_page(&query, limit, after.as_ref(), count).await?;
    Ok(Json(Paged::of(page, |r| r)))
}

/// One rotation, with its phases.
#[utoipa::path(get, path = "/api/v1/rotations/{id}", tag = "rotations",
    params(("id" = String, Path, description = "Rotation id")),
    responses((status = 200, description = "The rotation", body = Rotation),
        (status = 404, description = "No such rotation in the token's folders", body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(id): Param,
) -> ApiResult<Json<Rotation>> {
    require(&caller, Action::Read)?;
    Ok(Json(visible(&s, &caller, &id).await?))
}

/// The rotation `id`, if the caller's folders cover its account (else "not found", as for a
/// rotation that does not exist).
pub(super) async fn visible(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Rotation> {
    let rotation = s.engine.rotation(id).await?;
    if caller.scoped() {
        let account = s.engine.account(&AccountRef::Id(rotation.account_id.clone())).await;
        if !account.is_ok_and(|a| caller.sees(a.folder.as_ref())) {
            return Err(StoreError::NotFound { what: format!("rotation {id:?}") }.into());
        }
    }
    Ok(rotation)
}

/// The rotation `id`, if the caller's folders cover its account (else "not found", as for a
/// rotation that does not exist), and the engine acting as the caller on that account.
async fn rotation_for(
    s: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<(rekey_engine::Engine, Rotation)> {
    let rotation = s.engine.rotation(id).await?;
    let hidden = || StoreError::NotFound { what: format!("rotation {id:?}") };
    let account = s.engine.account(&AccountRef::Id(rotation.account_id.clone())).await.map_err(|_| hidden())?;
    if !caller.sees(account.folder.as_ref()) {
        return Err(hidden().into());
    }
    let (engine, _, _) = account_for(s, caller, account.id.as_str(), action).await?;
    Ok((engine, rotation))
}

/// Confirm that a manual delivery is done: the rotation commits and goes on.
#[utoipa::path(post, path = "/api/v1/rotations/{id}/confirm", tag = "rotations",
    params(("id" = String, Path, description = "Rotation id")),
    responses((status = 200, description = "The rotation's report", body = rekey_engine::RotationReport),
        (status = 403, description = "An auditor token (confirming takes an operator or admin)", body = ErrorBody),
        (status = 409, description = "The rotation is not waiting for a confirmation", body = ErrorBody)))]
pub async fn confirm(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(id): Param,
) -> ApiResult<Json<rekey_engine::RotationReport>> {
    require(&caller, Action::Operate)?;
    let (engine, _) = rotation_for(&s, &caller, &id, Action::Operate).await?;
    Ok(Json(engine.confirm_rotation(&id).await?))
}

/// What an operator enters for a manual delivery.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PendingValue {
    /// The rotation.
    pub rotation: String,
    /// The account, `PROVIDER/USER/KIND`.
    pub account: String,
    /// The new access key id (also the SES SMTP user name).
    pub access_key_id: Option<String>,
    /// The secret access key, or the derived value (SES SMTP password).
    pub secret: String,
    /// `secret-access-key`, or the derived format.
    pub format: String,
    /// Where it is entered.
    pub instructions: String,
    /// The confirmation's deadline.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub confirm_by: Option<chrono::DateTime<chrono::Utc>>,
}

/// The value a rotation waiting for its manual delivery needs entered (admin only; audited).
#[utoipa::path(post, path = "/api/v1/rotations/{id}/reveal", tag = "rotations",
    params(("id" = String, Path, description = "Rotation id")),
    responses((status = 200, description = "What to enter", body = PendingValue),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 409, description = "The rotation is not waiting for a manual delivery", body = ErrorBody)))]
pub async fn reveal(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(id): Param,
) -> ApiResult<Json<PendingValue>> {
    require(&caller, Action::Reveal)?;
    let (engine, _) = rotation_for(&s, &caller, &id, Action::Reveal).await?;
    let p = engine.reveal_pending(&id).await?;
    Ok(Json(PendingValue {
        rotation: p.rotation,
        account: p.account,
        access_key_id: p.access_key_id,
        secret: p.secret.expose().to_owned(),
        format: p.format,
        instructions: p.instructions,
        confirm_by: p.confirm_by,
    }))
}
