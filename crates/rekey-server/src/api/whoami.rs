//! `GET /api/v1/whoami`: who the token is and what it may do, so a client can show only the
//! actions that will not end in 403.

use crate::{
    auth::{Action, Caller},
    error::ApiResult,
};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use rekey_domain::Folder;
use serde::Serialize;
use utoipa::ToSchema;

/// What the token's role allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Allows {
    /// List and show providers, accounts, rotations.
    pub read: bool,
    /// Rotate, heartbeat.
    pub operate: bool,
    /// Check passwords out and in.
    pub checkout: bool,
    /// Reveal secrets.
    pub reveal: bool,
    /// Roll back, discover, change account settings.
    pub administer: bool,
    /// Reports and the audit log (only unconfined tokens: they span every folder).
    pub audit: bool,
}

/// The token of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// Its id (public; names it in the audit log).
    pub token_id: String,
    /// Its name.
    pub name: String,
    /// `admin`, `operator` or `auditor`.
    pub role: String,
    /// The folders it is confined to; `null` for every folder.
    #[schema(value_type = Option<Vec<String>>)]
    pub folders: Option<Vec<Folder>>,
    /// When it stops working, if ever.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may do.
    pub allows: Allows,
}

/// Who the token is, its role and folders, and what it may do.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "accounts",
    responses((status = 200, description = "The token", body = WhoAmI)))]
pub async fn whoami(Extension(caller): Extension<Caller>) -> ApiResult<Json<WhoAmI>> {
    let may = |a: Action| a.allowed_for(caller.role);
    let allows = Allows {
        read: may(Action::Read),
        operate: may(Action::Operate),
        checkout: may(Action::Checkout),
        reveal: may(Action::Reveal),
        administer: may(Action::Administer),
        audit: may(Action::Audit) && !caller.scoped(),
    };
    Ok(Json(WhoAmI {
        token_id: caller.token_id.clone(),
        name: caller.name.clone(),
        role: caller.role.to_string(),
        folders: caller.scope(),
        expires_at: caller.expires_at,
        allows,
    }))
}
