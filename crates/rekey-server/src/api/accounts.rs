//! `/api/v1/accounts`: list, show, and the actions on one account. An account is named by its
//! id or, URL-encoded, as `PROVIDER/USER/KIND`.

use super::{account_for, require};
use crate::{
    auth::{Action, Caller},
    config::Config,
    error::ApiResult,
    AppState,
};
use axum::{
    extract::{Path, Query, State},
    Extension, Json,
};
use rekey_domain::duration::parse_duration_ms;
use rekey_engine::RotateOptions;
use rekey_store::AccountFilter;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

/// Filters for the account list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this provider.
    provider: Option<String>,
    /// Only this folder and its sub-folders.
    folder: Option<String>,
}

/// List accounts (those in the token's folders).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(ListQuery),
    responses((status = 200, description = "Accounts", body = Value)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Read)?;
    let filter = AccountFilter {
        provider: q.provider.as_deref().map(str::parse).transpose()?,
        folder: q.folder.as_deref().map(str::parse).transpose()?,
    };
    let accounts = caller.visible(s.engine.accounts(&filter).await?);
    Ok(Json(json!(accounts)))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path, description = "Account id, or PROVIDER/USER/KIND URL-encoded")),
    responses((status = 200, description = "The account", body = Value), (status = 404, description = "No such account")))]
pub async fn show(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, _, account) = account_for(&s, &caller, &account, Action::Read).await?;
    Ok(Json(json!(account)))
}

/// The account's current secret (admin only; audited as `account.reveal`).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/reveal", tag = "accounts",
    params(("account" = String, Path, description = "Account")),
    responses((status = 200, description = "The secret", body = Value)))]
pub async fn reveal(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Reveal).await?;
    let (account, secret) = engine.reveal(&r).await?;
    Ok(Json(json!({
        "account": account.id, "key_id": account.current_key_id, "kind": account.kind, "secret": secret.expose(),
    })))
}

/// Rotation request options.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct RotateQuery {
    /// Plan only; change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Rotate the account now (or plan it with `dry_run`).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/rotate", tag = "accounts",
    params(("account" = String, Path, description = "Account"), RotateQuery),
    responses((status = 200, description = "The rotation's report", body = Value)))]
pub async fn rotate(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
    Query(q): Query<RotateQuery>,
) -> ApiResult<Json<Value>> {
    let (engine, _, account) = account_for(&s, &caller, &account, Action::Operate).await?;
    let opts = RotateOptions::default();
    let report = if q.dry_run { engine.plan(&account, &opts).await? } else { engine.rotate(&account, &opts).await? };
    Ok(Json(json!(report)))
}

/// Check that the stored credential still works.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/heartbeat", tag = "accounts",
    params(("account" = String, Path, description = "Account")),
    responses((status = 200, description = "The heartbeat", body = Value)))]
pub async fn heartbeat(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let (engine, _, account) = account_for(&s, &caller, &account, Action::Operate).await?;
    let hb = engine.heartbeat(&account).await;
    if !matches!(&hb, Ok(h) if h.status == "ok") {
        s.count_heartbeat_failures(1);
    }
    Ok(Json(json!(hb?)))
}

/// Restore the previous access key (admin only).
#[utoipa::path(post, path = "/api/v1/accounts/{account}/rollback", tag = "accounts",
    params(("account" = String, Path, description = "Account")),
    responses((status = 200, description = "The account after the rollback", body = Value)))]
pub async fn rollback(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Administer).await?;
    Ok(Json(json!(engine.rollback(&r).await?)))
}

/// How long a check-out lasts.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CheckoutBody {
    /// e.g. `30m`; the server's `checkout.default_ttl` when absent; at most `24h`.
    ttl: Option<String>,
}

/// Check a console password out: exclusive until check-in or expiry, after which the password
/// is rotated so the one seen stops working.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/checkout", tag = "accounts",
    params(("account" = String, Path, description = "A password account")),
    request_body(content = CheckoutBody, description = "Optional"),
    responses((status = 200, description = "The password and the check-out", body = Value),
        (status = 409, description = "Checked out by someone else")))]
pub async fn checkout(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
    body: Option<Json<CheckoutBody>>,
) -> ApiResult<Json<Value>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Checkout).await?;
    let ttl = body.and_then(|Json(b)| b.ttl).unwrap_or_else(|| s.config.checkout.default_ttl.clone());
    let ttl_ms = parse_duration_ms(&ttl)?;
    let (c, account, password) = engine.checkout(&r, ttl_ms).await?;
    Ok(Json(json!({
        "checkout": c, "account": account.id, "user": account.user_name, "password": password.expose(),
    })))
}

/// Return a check-out; the password is rotated on the next scheduler tick.
#[utoipa::path(post, path = "/api/v1/accounts/{account}/checkin", tag = "accounts",
    params(("account" = String, Path, description = "A checked-out account")),
    responses((status = 200, description = "The returned check-out", body = Value)))]
pub async fn checkin(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let (engine, r, _) = account_for(&s, &caller, &account, Action::Checkout).await?;
    let c = engine.checkin(&r, caller.role == crate::auth::Role::Admin).await?;
    let next_tick = Config::ms(&s.config.scheduler.interval);
    Ok(Json(json!({ "checkout": c, "rotation": format!("within {next_tick} ms (next scheduler tick)") })))
}
