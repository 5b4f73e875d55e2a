//! `/api/v1/rotations`: the rotation journal, with each rotation's phases. A token confined to
//! folders sees the rotations of its accounts only; any other rotation is "not found".

use super::{
    account_for,
    extract::{in_range, Param, Params},
    require,
};
use crate::{
    auth::{Action, Caller},
    error::{ApiResult, ErrorBody},
    AppState,
};
use axum::{extract::State, Extension, Json};
use rekey_store::{Rotation, StoreError};
use serde::Deserialize;
use std::collections::HashSet;
use utoipa::IntoParams;

/// Filters for the rotation list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this account.
    account: Option<String>,
    /// Only unfinished rotations.
    #[serde(default)]
    open: bool,
    /// At most this many, 1 to 10000 (default 100).
    limit: Option<i64>,
}

/// List rotations, newest first.
#[utoipa::path(get, path = "/api/v1/rotations", tag = "rotations", params(ListQuery),
    responses((status = 200, description = "Rotations", body = Vec<Rotation>),
        (status = 400, description = "A parameter out of range", body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Vec<Rotation>>> {
    require(&caller, Action::Read)?;
    let limit = in_range("limit", q.limit.unwrap_or(100), 1..=10_000)?;
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
    Ok(Json(rotations))
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
    let rotation = s.engine.store().rotation(&id).await?;
    if caller.scoped() {
        let account = s.engine.store().account(&rotation.account_id).await;
        if !account.is_ok_and(|a| caller.sees(a.folder.as_ref())) {
            return Err(StoreError::NotFound { what: format!("rotation {id:?}") }.into());
        }
    }
    Ok(Json(rotation))
}
