//! `/api/v1/providers`: the AWS accounts rekey reaches, and discovery of their IAM users.
//!
//! A token confined to folders sees only the providers of the accounts in its folders; any
//! other provider is "not found", as one that does not exist. Discovery lists every IAM user of
//! a provider, whatever folder its accounts are in, so it takes an unconfined admin token.

use super::{
    extract::{Body, Param},
    require, require_unscoped,
};
use crate::{
    auth::{Action, Caller},
    error::{ApiResult, ErrorBody},
    AppState,
};
use axum::{extract::State, Extension, Json};
use rekey_domain::ProviderName;
use rekey_engine::discover::{Discovery, Mode, Tags};
use rekey_store::{AccountFilter, Provider};
use serde::Deserialize;
use std::collections::HashSet;
use utoipa::ToSchema;

/// The providers the caller may see: all for an unconfined token, else those of its accounts.
async fn visible_names(s: &AppState, caller: &Caller) -> ApiResult<Option<HashSet<ProviderName>>> {
    if !caller.scoped() {
        return Ok(None);
    }
    let accounts = caller.visible(s.engine.accounts(&AccountFilter::default()).await?);
    Ok(Some(accounts.into_iter().map(|a| a.provider).collect()))
}

/// The provider `name`, or "not found" if it does not exist or the caller may not see it.
pub(crate) async fn visible(s: &AppState, caller: &Caller, name: &ProviderName) -> ApiResult<Provider> {
    let hidden = visible_names(s, caller).await?.is_some_and(|names| !names.contains(name));
    if hidden {
        return Err(rekey_engine::Error::NotFound {
            what: format!("provider {:?}", name.as_str()),
            hint: "`rekey provider list` shows the providers".into(),
        }
        .into());
    }
    Ok(s.engine.provider(name).await?)
}

/// List providers (for a token confined to folders, those of its accounts).
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, description = "Providers", body = Vec<Provider>)))]
pub async fn list(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Vec<Provider>>> {
    require(&caller, Action::Read)?;
    let mut providers = s.engine.providers().await?;
    if let Some(names) = visible_names(&s, &caller).await? {
        providers.retain(|p| names.contains(&p.name));
    }
    Ok(Json(providers))
}

/// One provider.
#[utoipa::path(get, path = "/api/v1/providers/{name}", tag = "providers",
    params(("name" = String, Path, description = "Provider name")),
    responses((status = 200, description = "The provider", body = Provider),
        (status = 404, description = "No such provider in the token's folders", body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(name): Param,
) -> ApiResult<Json<Provider>> {
    require(&caller, Action::Read)?;
    Ok(Json(visible(&s, &caller, &name.parse()?).await?))
}

/// Discovery options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverBody {
    /// Per-user calls instead of the credential report.
    #[serde(default)]
    per_user: bool,
}

/// Discover every IAM user and credential of a provider (admin token not confined to folders;
/// changes nothing).
#[utoipa::path(post, path = "/api/v1/providers/{name}/discover", tag = "providers",
    params(("name" = String, Path, description = "Provider name")),
    request_body(content = DiscoverBody, description = "Optional"),
    responses((status = 200, description = "What was found", body = Discovery),
        (status = 403, description = "Not an admin token, or one confined to folders", body = ErrorBody)))]
pub async fn discover(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Param(name): Param,
    Body(body): Body<DiscoverBody>,
) -> ApiResult<Json<Discovery>> {
    require_unscoped(&caller, Action::Administer, "discovery")?;
    let mode = if body.per_user { Mode::PerUser } else { Mode::Auto };
    let engine = s.engine.acting_as(caller.actor());
    Ok(Json(engine.discover(&name.parse()?, mode, &Tags::default()).await?))
}
