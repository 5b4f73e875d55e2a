//! `/api/v1/providers`: the AWS accounts rekey reaches, and discovery of their IAM users.

use super::require;
use crate::{
    auth::{Action, Caller},
    error::ApiResult,
    AppState,
};
use axum::{
    extract::{Path, State},
    Extension, Json,
};
use rekey_engine::discover::{Mode, Tags};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// List providers.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, description = "Providers", body = Value)))]
pub async fn list(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    require(&caller, Action::Read)?;
    Ok(Json(json!(s.engine.providers().await?)))
}

/// One provider.
#[utoipa::path(get, path = "/api/v1/providers/{name}", tag = "providers",
    params(("name" = String, Path, description = "Provider name")),
    responses((status = 200, description = "The provider", body = Value)))]
pub async fn show(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Read)?;
    Ok(Json(json!(s.engine.provider(&name.parse()?).await?)))
}

/// Discovery options.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DiscoverBody {
    /// Per-user calls instead of the credential report.
    #[serde(default)]
    per_user: bool,
}

/// Discover every IAM user and credential of a provider (admin only; changes nothing).
#[utoipa::path(post, path = "/api/v1/providers/{name}/discover", tag = "providers",
    params(("name" = String, Path, description = "Provider name")),
    request_body(content = DiscoverBody, description = "Optional"),
    responses((status = 200, description = "What was found", body = Value)))]
pub async fn discover(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<Json<DiscoverBody>>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Administer)?;
    let mode = if body.is_some_and(|Json(b)| b.per_user) { Mode::PerUser } else { Mode::Auto };
    let provider = name.parse()?;
    let engine = s.engine.acting_as(caller.actor());
    let found =
        super::detached(engine, move |e| Box::pin(async move { e.discover(&provider, mode, &Tags::default()).await }))
            .await?;
    Ok(Json(json!(found)))
}
