//! The REST API under `/api/v1`. Every route is registered through `utoipa_axum::routes!`, so
//! the OpenAPI document served at `/openapi.json` is generated from the same declarations the
//! router uses (a test checks that every documented operation is routed and guarded).
//!
//! Every request passes `guard`: the bearer token is checked (401 otherwise), the caller is
//! put in the request's extensions for the handler's role and folder checks (403), and the
//! request is audited with the token's id once the handler answered (answered plain reads
//! only with `[audit] reads = "all"`, see `audit_log`).

mod account_list;
mod accounts;
mod audit;
pub(crate) mod extract;
mod paged;
mod providers;
mod rotation_events;
mod rotations;
mod whoami;

use crate::{
    auth::{Action, Caller},
    coalesce::Buffered,
    error::{ApiError, ApiResult},
    AppState,
};
use axum::{
    extract::{MatchedPath, Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::Response,
    Router,
};
use rekey_domain::AuditOutcome;
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
        (name = "health", description = "Probes and metrics"),
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

/// Every route but the console's static files, and the OpenAPI document generated from the
/// same declarations: API operations behind `guard`, health and metrics beside them.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(providers::list))
        .routes(routes!(providers::show))
        .routes(routes!(providers::discover))
        .routes(routes!(whoami::whoami))
        .routes(routes!(account_list::overview))
        .routes(routes!(account_list::list))
        .routes(routes!(accounts::show))
        .routes(routes!(accounts::versions))
        .routes(routes!(accounts::reveal))
        .routes(routes!(accounts::rotate))
        .routes(routes!(accounts::heartbeat))
        .routes(routes!(accounts::rollback))
        .routes(routes!(accounts::settings))
        .routes(routes!(accounts::checkout))
        .routes(routes!(accounts::checkin))
        .routes(routes!(rotations::list))
        .routes(routes!(rotations::show))
        .routes(routes!(rotation_events::events))
        .routes(routes!(rotations::confirm))
        .routes(routes!(rotations::reveal))
        .routes(routes!(audit::compliance))
        .routes(routes!(audit::events))
        .routes(routes!(audit::verify))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .merge(crate::health::routes())
        .with_state(state)
        .split_for_parts();
    let mut doc = doc;
    document_guard(&mut doc);
    (router, doc)
}

/// Lists what `guard` and the path parameters answer on every operation behind them, so each
/// operation need not repeat it: 401 for a missing or refused token, 404 for an object that
/// does not exist (or is in folders the token does not cover). 403s depend on the operation's
/// role and are declared with it.
fn document_guard(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        ResponseBuilder::new().description(description).content("application/json", content).build().into()
    };
    for (path, item) in doc.paths.paths.iter_mut().filter(|(p, _)| p.starts_with("/api/v1/")) {
        let names_an_object = path.contains('{');
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for op in operations.into_iter().flatten() {
            let answers = &mut op.responses.responses;
            answers
                .entry("401".into())
                .or_insert_with(|| error("No API token, or one that is not valid, revoked or expired"));
            if names_an_object {
                answers.entry("404".into()).or_insert_with(|| error("No such object in the token's folders"));
            }
        }
    }
}

/// Authenticates, then audits the request with its outcome.
async fn guard(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().into());
    let method = req.method().clone();
    let source = crate::throttle::source(req.extensions());
    let caller = match crate::throttle::authenticate(&s, source, req.headers()).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    req.extensions_mut().insert(caller.clone());
    let response = match shared_read(&req, &route, &caller) {
        Some(key) => {
            let answer =
                s.reads.get(key, Buffered::shareable, || async move { Buffered::of(next.run(req).await).await });
            answer.await.response()
        }
        None => next.run(req).await,
    };
    let status = response.status().as_u16();
    if s.config.audit.audits(&method, status) {
        audit(&s, &caller.actor(), method.as_str(), &route, status).await;
    }
    response
}

/// The lists whose answer depends only on the request's query, the caller's role and folders,
/// and the vault: identical ones made at once are answered once (`crate::coalesce`).
const SHARED_READS: [&str; 5] =
    ["/api/v1/accounts", "/api/v1/rotations", "/api/v1/audit", "/api/v1/providers", "/api/v1/overview"];

/// The key of a read whose answer may be shared, with everything the answer depends on.
fn shared_read(req: &Request, route: &str, caller: &Caller) -> Option<String> {
    if req.method() != axum::http::Method::GET || !SHARED_READS.contains(&route) {
        return None;
    }
    let folders: Vec<&str> = caller.folders.iter().map(|f| f.as_str()).collect();
    Some(format!("{}\n{}\n{}\n{}", caller.role, folders.join("\n"), route, req.uri().query().unwrap_or_default()))
}

/// The bearer token of a request, if it sends one (the scheme's name is case-insensitive,
/// RFC 9110 §11.1: `bearer rk_…` is a bearer token too).
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn audit(s: &AppState, actor: &str, method: &str, route: &str, status: u16) {
    let outcome = match status {
        401 | 403 => AuditOutcome::Denied,
        400.. => AuditOutcome::Failed,
        _ => AuditOutcome::Ok,
    };
    let engine = s.engine.acting_as(actor);
    let entry = engine.audit_entry("api.request", Some(route), outcome, json!({ "method": method, "status": status }));
    s.audit_writer.append(&s.engine, entry).await;
}

/// 403 unless the caller's role allows `action`.
pub(crate) fn require(caller: &Caller, action: Action) -> ApiResult<()> {
    if action.allowed_for(caller.role) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!("role {} may not {}", caller.role, describe(action))))
}

/// 403 unless the caller's role allows `action` and it is confined to no folder (for views
/// that span every folder: discovery, reports, the audit log, metrics).
pub(crate) fn require_unscoped(caller: &Caller, action: Action, what: &str) -> ApiResult<()> {
    require(caller, action)?;
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
/// acting as the caller. An account outside the caller's folders is "not found", exactly as
/// one that does not exist, so a token cannot learn what exists in other folders.
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
        return Err(Engine::no_account(&r).into());
    }
    Ok((engine, AccountRef::Id(account.id.clone()), account))
}
