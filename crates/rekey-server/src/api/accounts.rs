//! `/api/v1/accounts/{account}`: one account and the actions on it (the list is in
//! `account_list`). An account is named by its
//! id or, URL-encoded, as `PROVIDER/USER/KIND`.

use super::{
    account_for,
    extract::{Body, Param, Params},
    require,
};
use crate::{
    auth::{Action, Caller, Role},
    error::{ApiError, ApiResult, ErrorBody},
    AppState,
};
use axum::{extract::State, Extension, Json};
use rekey_domain::{duration::parse_duration_ms, AccountId, CredentialKind, HeartbeatStatus, SettingsPatch, UserName};
use rekey_engine::{AccountRef, Engine, RotateOptions, RotationReport};
use rekey_store::{
    listing::{AccountItem, VersionInfo},
    Checkout, Heartbeat,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One account.
#[utoipa::path(get, path = "/api/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path, description = "Account id, or PROVIDER/USER/KIND URL-encoded")),
    responses((status = 200, description = "The account", body = AccountItem),
        (status = 404, description = "No such account in the token's folders", body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
) -> ApiResult<Json<AccountItem>> {
    // One statement: the item carries the folder the caller's scope is checked against.
    require(&caller, Action::Read)?;
    let r: AccountRef = account.parse()?;
    let item = s.engine.acting_as(caller.actor()).account_item(&r).await?;
    if !caller.sees(item.account.folder.as_ref()) {
        return Err(Engine::no_account(&r).into());
    }
    Ok(Json(item))
}

/// Every stored version of the account's secret, newest first: number, state, key id, origin,
/// when it was stored. Never a secret (revealing the current one is `POST …/reveal`).
#[utoipa::path(get, path = "/api/v1/accounts/{account}/versions", tag = "accounts",
    params(("account" = String, Path, description = "Account id, or PROVIDER/USER/KIND URL-encoded")),
    responses((status = 200, description = "The versions, newest first", body = Vec<VersionInfo>),
        (status = 404, description = "No such account in the token's folders", body = ErrorBody)))]
pub async fn versions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
) -> ApiResult<Json<Vec<VersionInfo>>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Read).await?;
    Ok(Json(engine.secret_history(&r).await?))
}

/// Options of a reveal.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevealQuery {
    /// Reveal a password someone else has checked out (audited as an override).
    #[serde(default)]
    force: bool,
}

/// A revealed secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revealed {
    /// The account.
    pub account: AccountId,
    /// Its credential kind.
    pub kind: CredentialKind,
    /// The access key id, for access keys (null for a password).
    pub access_key_id: Option<String>,
    /// The secret access key or the password.
    pub secret: String,
}

/// The account's current secret (admin only; audited as `account.reveal`). A password checked
/// out by someone else is refused (409) unless `force`.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/reveal", tag = "accounts",
    params(("account" = String, Path, description = "Account"), RevealQuery),
    responses((status = 200, description = "The secret", body = Revealed),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 409, description = "Checked out by someone else (`force=true` reveals it anyway)", body = ErrorBody)))]
pub async fn reveal(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
    Params(q): Params<RevealQuery>,
) -> ApiResult<Json<Revealed>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Reveal).await?;
    let (account, secret) = engine.reveal_with(&r, q.force).await?;
    Ok(Json(Revealed {
        account: account.id,
        kind: account.kind,
        access_key_id: account.current_key_id,
        secret: secret.expose().to_owned(),
    }))
}

/// Rotation request options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RotateQuery {
    /// Plan only; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// Rotate a password someone has checked out (audited as an override; their copy stops
    /// working).
    #[serde(default)]
    force: bool,
}

/// Rotate the account now (or plan it with `dry_run`). A password checked out by someone is
/// refused (409) unless `force`.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/rotate", tag = "accounts",
    params(("account" = String, Path, description = "Account"), RotateQuery),
    responses((status = 200, description = "The rotation's report", body = RotationReport),
        (status = 403, description = "An auditor token (rotating takes an operator or admin)", body = ErrorBody),
        (status = 409, description = "Checked out (`force=true` rotates it anyway), or another rotation holds the account", body = ErrorBody)))]
pub async fn rotate(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
    Params(q): Params<RotateQuery>,
) -> ApiResult<Json<RotationReport>> {
    let (engine, _, account) = account_for(&s, &caller, &account, Action::Operate).await?;
    let opts = RotateOptions { force_checkout: q.force, ..RotateOptions::default() };
    if q.dry_run {
        return Ok(Json(engine.plan(&account, &opts).await?));
    }
    // On its own task: a client that hangs up does not cut the rotation short between phases.
    let rotation = tokio::spawn(async move { engine.rotate(&account, &opts).await });
    let report =
        rotation.await.map_err(|e| rekey_engine::Error::Internal(format!("the rotation's task failed: {e}")))?;
    Ok(Json(report?))
}

/// Check that the stored credential still works. While a rotation works the account (or when
/// one ran during the check) nothing is stored and the answer is 409 `rotation_under_way`,
/// naming the rotation.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/heartbeat", tag = "accounts",
    params(("account" = String, Path, description = "Account")),
    responses((status = 200, description = "The heartbeat", body = Heartbeat),
        (status = 403, description = "An auditor token (a heartbeat takes an operator or admin)", body = ErrorBody),
        (status = 409, description = "A rotation of the account is under way, or ran during the check (`rotation_under_way`)", body = ErrorBody)))]
pub async fn heartbeat(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
) -> ApiResult<Json<Heartbeat>> {
    let (engine, _, account) = account_for(&s, &caller, &account, Action::Operate).await?;
    let hb = engine.heartbeat(&account).await;
    if !matches!(&hb, Ok(h) if h.status == HeartbeatStatus::Ok) && !hb.as_ref().is_err_and(|e| e.is_busy()) {
        s.count_heartbeat_failures(1);
    }
    Ok(Json(hb?))
}

/// Restore the previous access key (admin only).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/rollback", tag = "accounts",
    params(("account" = String, Path, description = "Account")),
    responses((status = 200, description = "The account after the rollback", body = AccountItem),
        (status = 403, description = "Not an admin token", body = ErrorBody)))]
pub async fn rollback(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
) -> ApiResult<Json<AccountItem>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Administer).await?;
    let account = engine.rollback(&r).await?;
    Ok(Json(engine.account_item(&AccountRef::Id(account.id)).await?))
}

/// How long a check-out lasts.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// e.g. `30m`; the server's `checkout.default_ttl` when absent; at most `24h`.
    ttl: Option<String>,
}

/// A checked-out password.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedOut {
    /// The check-out.
    pub checkout: Checkout,
    /// The account.
    pub account: AccountId,
    /// Its IAM user.
    pub user: UserName,
    /// The console password.
    pub password: String,
}

/// Check a console password out: exclusive until check-in or expiry, after which the password
/// is rotated so the one seen stops working.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/checkout", tag = "accounts",
    params(("account" = String, Path, description = "A password account")),
    request_body(content = CheckoutBody, description = "Optional"),
    responses((status = 200, description = "The password and the check-out", body = CheckedOut),
        (status = 400, description = "A bad body, or an account that is not a password", body = ErrorBody),
        (status = 403, description = "An auditor token (a check-out takes an operator or admin)", body = ErrorBody),
        (status = 409, description = "Checked out by someone else", body = ErrorBody)))]
pub async fn checkout(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
    Body(body): Body<CheckoutBody>,
) -> ApiResult<Json<CheckedOut>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Checkout).await?;
    let ttl_ms = match body.ttl {
        Some(ttl) => parse_duration_ms(&ttl)?,
        None => s.config.checkout.default_ttl.ms(),
    };
    let (checkout, account, password) = engine.checkout(&r, ttl_ms).await?;
    Ok(Json(CheckedOut { checkout, account: account.id, user: account.user_name, password: password.expose().into() }))
}

/// A returned check-out.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedIn {
    /// The check-out, ended.
    pub checkout: Checkout,
    /// When the password is rotated.
    pub rotation: String,
}

/// Return a check-out; the password is rotated on the next scheduler tick.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/checkin", tag = "accounts",
    params(("account" = String, Path, description = "A checked-out account")),
    responses((status = 200, description = "The returned check-out", body = CheckedIn),
        (status = 403, description = "An auditor token (a check-in takes an operator or admin)", body = ErrorBody),
        (status = 409, description = "The account is not checked out", body = ErrorBody)))]
pub async fn checkin(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
) -> ApiResult<Json<CheckedIn>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Checkout).await?;
    let checkout = engine.checkin(&r, caller.role == Role::Admin).await?;
    let next_tick = s.config.scheduler.interval.ms();
    Ok(Json(CheckedIn { checkout, rotation: format!("within {next_tick} ms (next scheduler tick)") }))
}

/// Change the account's rotation settings, folder or title (admin only; audited as
/// `account.set`). Fields are named like `rekey account set`'s options; absent ones stay,
/// unknown ones are refused (400), as are settings of the other credential kind.
#[utoipa::path(patch, path = "/api/v1/accounts/{account}/settings", tag = "accounts",
    params(("account" = String, Path, description = "Account")),
    request_body(content = SettingsPatch, description = "The settings to change"),
    responses((status = 200, description = "The account as changed", body = AccountItem),
        (status = 400, description = "An unknown field, a bad value, or nothing to change", body = ErrorBody),
        (status = 403, description = "Not an admin token, or a folder the token does not cover", body = ErrorBody)))]
pub async fn settings(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(account): Param,
    Body(patch): Body<SettingsPatch>,
) -> ApiResult<Json<AccountItem>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Administer).await?;
    // A token confined to folders moves accounts only between folders it covers.
    if let Some(to) = &patch.folder {
        if !caller.sees(to.as_ref()) {
            let to = to.as_ref().map_or("no folder", |f| f.as_str());
            return Err(ApiError::forbidden(format!(
                "this token may not move an account to {to}: it is confined to folders {}",
                caller.folders.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    engine.patch_account(&r, &patch).await?;
    Ok(Json(engine.account_item(&r).await?))
}
