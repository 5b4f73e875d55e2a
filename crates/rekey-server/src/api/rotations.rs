//! `/api/v1/rotations`: the rotation journal, with each rotation's phases.

use super::{account_for, require};
use crate::{
    auth::{Action, Caller},
    error::{ApiError, ApiResult},
    AppState,
};
use axum::{
    extract::{Path, Query, State},
    Extension, Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use utoipa::IntoParams;

/// Filters for the rotation list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this account.
    account: Option<String>,
    /// Only unfinished rotations.
    #[serde(default)]
    open: bool,
    /// At most this many (default 100).
    limit: Option<i64>,
}

/// List rotations, newest first.
#[utoipa::path(get, path = "/api/v1/rotations", tag = "rotations", params(ListQuery),
    responses((status = 200, description = "Rotations", body = Value)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Read)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let account = match &q.account {
        Some(a) => Some(account_for(&s, &caller, a, Action::Read).await?.2.id),
        None => None,
    };
    let mut rotations = s.engine.store().rotations(account.as_ref(), q.open, limit).await?;
    if caller.scoped() {
        let mine: HashSet<_> =
            caller.visible(s.engine.accounts(&Default::default()).await?).into_iter().map(|a| a.id).collect();
        rotations.retain(|r| mine.contains(&r.account_id));
    }
    Ok(Json(json!(rotations)))
}

/// One rotation, with its phases.
#[utoipa::path(get, path = "/api/v1/rotations/{id}", tag = "rotations",
    params(("id" = String, Path, description = "Rotation id")),
    responses((status = 200, description = "The rotation", body = Value)))]
pub async fn show(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require(&caller, Action::Read)?;
    let rotation = s.engine.store().rotation(&id).await?;
    if caller.scoped() {
        let account = s.engine.store().account(&rotation.account_id).await;
        if !account.is_ok_and(|a| caller.sees(a.folder.as_ref())) {
            return Err(ApiError::forbidden(format!("rotation {id} is outside this token's folders")));
        }
    }
    Ok(Json(json!(rotation)))
}
