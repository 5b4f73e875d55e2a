//! The REST API under `/api/v1`. Every route is registered through `utoipa_axum::routes!`, so
//! the OpenAPI document served at `/openapi.json` is generated from the same declarations the
//! router uses (a test checks that every documented operation is routed and guarded).
//!
//! Every request passes [`guard`]: the bearer token is checked (401 otherwise), the caller is
//! put in the request's extensions for the handler's role and folder checks (403), and the
//! request is audited with the token's id once the handler answered.

mod accounts;
mod audit;
mod providers;
mod rotations;

use crate::{
    auth::{self, Action, Caller, Rejected},
    error::{ApiError, ApiResult},
    AppState,
};
use axum::{
    extract::{MatchedPath, Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use rekey_engine::{AccountRef, Engine};
use rekey_store::Account;
use serde_json::json;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "rekey", description = "Privileged AWS IAM credentials: accounts, rotations, check-outs, audit."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "providers", description = "AWS accounts rekey reaches"),
        (name = "accounts", description = "Managed credentials"),
        (name = "rotations", description = "The rotation journal"),
        (name = "audit", description = "Reports and the audit log"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("rk_ID_SECRET").build(),
            ),
        );
    }
}

/// The API routes (guarded) and their OpenAPI document.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(providers::list))
        .routes(routes!(providers::show))
        .routes(routes!(providers::discover))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::show))
        .routes(routes!(accounts::reveal))
        .routes(routes!(accounts::rotate))
        .routes(routes!(accounts::heartbeat))
        .routes(routes!(accounts::rollback))
        .routes(routes!(accounts::checkout))
        .routes(routes!(accounts::checkin))
        .routes(routes!(rotations::list))
        .routes(routes!(rotations::show))
        .routes(routes!(audit::compliance))
        .routes(routes!(audit::events))
        .routes(routes!(audit::verify))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
        .split_for_parts();
    (router, doc)
}

/// Authenticates, then audits the request with its outcome.
async fn guard(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().into());
    let method = req.method().to_string();
    let bearer = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let (caller, response) = match auth::authenticate(&s.engine, bearer.map(str::trim)).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller.clone());
            (Some(caller), next.run(req).await)
        }
        Err(why) => {
            let message = match &why {
                Rejected::Missing => "no API token",
                Rejected::Invalid(_) => "the API token is not valid",
                Rejected::Revoked(_) => "the API token was revoked",
                Rejected::Expired(_) => "the API token has expired",
            };
            let actor = match &why {
                Rejected::Invalid(Some(id)) | Rejected::Revoked(id) | Rejected::Expired(id) => format!("token:{id}"),
                _ => "anonymous".into(),
            };
            audit(&s, &actor, &method, &route, 401).await;
            return ApiError::unauthorized(message).into_response();
        }
    };
    if let Some(c) = caller {
        audit(&s, &c.actor(), &method, &route, response.status().as_u16()).await;
    }
    response
}

async fn audit(s: &AppState, actor: &str, method: &str, route: &str, status: u16) {
    let outcome = match status {
        401 | 403 => "denied",
        400.. => "failed",
        _ => "ok",
    };
    let engine = s.engine.acting_as(actor);
    let entry = engine.audit_entry("api.request", Some(route), outcome, json!({ "method": method, "status": status }));
    s.audit_writer.append(s.engine.store(), entry).await;
}

/// 403 unless the caller's role allows `action`.
pub(crate) fn require(caller: &Caller, action: Action) -> ApiResult<()> {
    if caller.role.allows(action) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!("role {} may not {}", caller.role, describe(action))))
}

/// 403 unless the caller is confined to no folder (for views that span every folder).
pub(crate) fn require_unscoped(caller: &Caller, what: &str) -> ApiResult<()> {
    if caller.scoped() {
        return Err(ApiError::forbidden(format!("{what} spans every folder; this token is confined to some")));
    }
    Ok(())
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Operate => "rotate or heartbeat",
        Action::Checkout => "check passwords out",
        Action::Reveal => "reveal secrets",
        Action::Administer => "administer",
        Action::Audit => "read reports or the audit log",
    }
}

/// The account named in the path, once role and folder allow `action` on it; with an engine
/// acting as the caller.
pub(crate) async fn account_for(
    s: &AppState,
    caller: &Caller,
    reference: &str,
    action: Action,
) -> ApiResult<(Engine, AccountRef, Account)> {
    require(caller, action)?;
    let r: AccountRef = reference.parse()?;
    let engine = s.engine.acting_as(caller.actor());
    let account = engine.account(&r).await?;
    if !caller.sees(account.folder.as_ref()) {
        return Err(ApiError::forbidden(format!("account {} is outside this token's folders", account.id)));
    }
    Ok((engine, AccountRef::Id(account.id.clone()), account))
}

/// Runs `work` on a blocking thread with its own borrow of `engine`. Discovery and reports
/// hold futures the compiler cannot prove `Send` for every lifetime (a known limitation with
/// higher-ranked lifetimes), which axum handlers must be; this sidesteps it.
pub(crate) async fn detached<T, F>(engine: Engine, work: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a Engine) -> std::pin::Pin<Box<dyn std::future::Future<Output = rekey_engine::Result<T>> + 'a>>
        + Send
        + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(work(&engine)))
        .await
        .map_err(|e| ApiError::from(rekey_engine::Error::Internal(format!("worker failed: {e}"))))?
        .map_err(ApiError::from)
}
