//! Roles × folders × endpoints. Every operation of the OpenAPI document has a row saying what
//! it needs (a route without a row, or a row without a route, fails the test); each is called
//! with every token on an object inside and outside the token's folders, without a token and
//! with a wrong one. Expected: 401 without a valid token, 403 for a role that may not or a
//! confined token on a view that spans every folder, 404 for an object outside the token's
//! folders (with the very body a missing object gets), and otherwise an answer that matches
//! the document's schema for it.

use crate::{
    schema,
    world::{assert_error, Answer, Token, World},
};
use rekey_server::auth::Action::{self, *};
use std::collections::BTreeSet;

/// What an operation needs.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Nothing: probes.
    Public,
    /// The role's action; lists are filtered to the token's folders.
    Filtered(Action),
    /// The role's action on an account / provider / rotation in the token's folders.
    Account(Action),
    Provider(Action),
    Rotation(Action),
    /// The role's action, by a token not confined to folders.
    Unscoped(Action),
}

const ROUTES: &[(&str, &str, Need)] = &[
    ("get", "/healthz", Need::Public),
    ("get", "/readyz", Need::Public),
    ("get", "/metrics", Need::Unscoped(Read)),
    ("get", "/api/v1/providers", Need::Filtered(Read)),
    ("get", "/api/v1/providers/{name}", Need::Provider(Read)),
    ("post", "/api/v1/providers/{name}/discover", Need::Unscoped(Administer)),
    ("get", "/api/v1/whoami", Need::Filtered(Read)),
    ("get", "/api/v1/overview", Need::Filtered(Read)),
    ("get", "/api/v1/accounts", Need::Filtered(Read)),
    ("get", "/api/v1/accounts/{account}", Need::Account(Read)),
    ("get", "/api/v1/accounts/{account}/versions", Need::Account(Read)),
    ("post", "/api/v1/accounts/{account}/reveal", Need::Account(Reveal)),
    ("post", "/api/v1/accounts/{account}/rotate", Need::Account(Operate)),
    ("post", "/api/v1/accounts/{account}/heartbeat", Need::Account(Operate)),
    ("post", "/api/v1/accounts/{account}/rollback", Need::Account(Administer)),
    ("patch", "/api/v1/accounts/{account}/settings", Need::Account(Administer)),
    ("post", "/api/v1/accounts/{account}/checkout", Need::Account(Checkout)),
    ("post", "/api/v1/accounts/{account}/checkin", Need::Account(Checkout)),
    ("get", "/api/v1/rotations", Need::Filtered(Read)),
    ("get", "/api/v1/rotations/{id}", Need::Rotation(Read)),
    ("get", "/api/v1/rotations/{id}/events", Need::Rotation(Read)),
    ("post", "/api/v1/rotations/{id}/confirm", Need::Rotation(Operate)),
    ("post", "/api/v1/rotations/{id}/reveal", Need::Rotation(Reveal)),
    ("get", "/api/v1/reports/compliance", Need::Unscoped(Audit)),
    ("get", "/api/v1/audit", Need::Unscoped(Audit)),
    ("get", "/api/v1/audit/verify", Need::Unscoped(Audit)),
];

/// The routes of the document, as (method, path).
fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().unwrap();
    paths.iter().flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone()))).collect()
}

#[tokio::test]
async fn every_documented_route_has_a_matrix_row_and_every_row_is_routed() {
    let w = World::new().await;
    let doc = w.doc().await;
    let rows: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p, _)| ((*m).into(), (*p).into())).collect();
    let documented = documented(&doc);
    assert_eq!(documented.difference(&rows).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "no matrix row");
    assert_eq!(rows.difference(&documented).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "not documented");
    // Routed: an undocumented path is 404, a documented one is not.
    let a = w.call("GET", "/api/v1/nothing-here", Some(w.token("admin")), None).await;
    assert_error(&a, "not_found", "an unknown route");
}

#[tokio::test]
async fn parameters_are_documented_where_they_are_read() {
    let doc = World::new().await.doc().await;
    let mut query = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let (name, at) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(at, if in_path { "path" } else { "query" }, "{method} {path}: {name}");
                query += usize::from(!in_path);
            }
        }
    }
    assert!(query >= 20, "the query parameters were found ({query})");
}

#[tokio::test]
async fn the_schema_check_catches_answers_the_document_does_not_describe() {
    let w = World::new().await;
    let doc = w.doc().await;
    let a = w.call("GET", &format!("/api/v1/accounts/{}", w.svc.id), Some(w.token("admin")), None).await;
    let s = schema::response_schema(&doc, "get", "/api/v1/accounts/{account}", 200).unwrap();
    assert_eq!(schema::check(&doc, s, &a.body), Vec::<String>::new());
    let mut extra = a.body.clone();
    extra["surprise"] = serde_json::json!(1);
    let mut missing = a.body.clone();
    missing.as_object_mut().unwrap().remove("user_name");
    let mut wrong = a.body.clone();
    wrong["kind"] = serde_json::json!("telepathy");
    for bad in [extra, missing, wrong] {
        assert!(!schema::check(&doc, s, &bad).is_empty(), "{bad}");
    }
}

/// Which object a call is made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// In `ops` (or no object).
    Ops,
    /// In `finance`.
    Finance,
}

/// The URI for `path` on `target`'s objects, and the name of the object it names.
fn concrete(w: &World, path: &str, target: Target) -> (String, String) {
    let account = if path.contains("/checkout") || path.contains("/checkin") {
        if target == Target::Ops {
            w.alice.id.to_string()
        } else {
            // No password in finance: an access key stands in (role and folder come first).
            w.bob.id.to_string()
        }
    } else if target == Target::Ops {
        w.svc.id.to_string()
    } else {
        w.bob.id.to_string()
    };
    let (provider, rotation) = match target {
        Target::Ops => ("p", w.rotation_ops.as_str()),
        Target::Finance => ("q", w.rotation_finance.as_str()),
    };
    let name = if path.contains("{account}") {
        account.clone()
    } else if path.contains("{name}") {
        provider.to_owned()
    } else {
        rotation.to_owned()
    };
    let mut uri = path.replace("{account}", &account).replace("{name}", provider).replace("{id}", rotation);
    if uri.ends_with("/rotate") {
        uri.push_str("?dry_run=true");
    }
    (uri, name)
}

fn sees(token: &Token, target: Target) -> bool {
    let folder = if target == Target::Ops { "ops" } else { "finance" };
    token.folders.is_empty() || token.folders.contains(&folder)
}

/// The status class a call must get: `Some(exact)` when denied, `None` when allowed.
fn expected(token: &Token, need: Need, target: Target) -> Option<u16> {
    let allowed_role = |a: Action| a.allowed_for(token.role);
    match need {
        Need::Public => None,
        Need::Filtered(a) => (!allowed_role(a)).then_some(403),
        Need::Unscoped(a) => (!allowed_role(a) || !token.folders.is_empty()).then_some(403),
        Need::Account(a) | Need::Provider(a) | Need::Rotation(a) => {
            if !allowed_role(a) {
                Some(403)
            } else if !sees(token, target) {
                Some(404)
            } else {
                None
            }
        }
    }
}

#[tokio::test]
async fn m3_roles_folders_and_endpoints_matrix() {
    let w = World::new().await;
    let doc = w.doc().await;
    let wrong = format!("{}0", &w.token("admin")[..w.token("admin").len() - 1]);
    let wrong = if wrong == w.token("admin") { format!("{}1", &wrong[..wrong.len() - 1]) } else { wrong };
    let mut calls = 0;
    // Every answer's status is one the document lists for the operation.
    let mut undocumented = BTreeSet::new();
    let mut seen = |method: &str, path: &str, status: u16| {
        if doc["paths"][path][method.to_lowercase()]["responses"][status.to_string()].is_null() {
            undocumented.insert(format!("{method} {path} {status}"));
        }
    };
    for (method, path, need) in ROUTES {
        let targets: &[Target] = match need {
            Need::Account(_) | Need::Provider(_) | Need::Rotation(_) => &[Target::Ops, Target::Finance],
            _ => &[Target::Ops],
        };
        for target in targets {
            let (uri, name) = concrete(&w, path, *target);
            for bearer in [None, Some("rk_000000000000_00"), Some(wrong.as_str())] {
                let a = w.call(method, &uri, bearer, None).await;
                seen(method, path, a.status.as_u16());
                if matches!(need, Need::Public) {
                    assert!(a.status.is_success(), "{method} {uri} is public: {}", a.status);
                } else {
                    assert_eq!(a.status, 401, "{method} {uri} with {bearer:?}: {}", a.body);
                    assert_error(&a, "unauthorized", &format!("{method} {uri}"));
                }
                calls += 1;
            }
            for token in &w.tokens {
                let a = w.call(method, &uri, Some(&token.bearer), None).await;
                seen(method, path, a.status.as_u16());
                let context = format!("{method} {uri} as {}", token.name);
                check(&w, &doc, (method, path, &name), &a, expected(token, *need, *target), &context).await;
                calls += 1;
            }
        }
    }
    assert!(calls > 150, "{calls} calls");
    assert_eq!(undocumented, BTreeSet::new(), "answers the document does not list");
}

async fn check(
    w: &World,
    doc: &serde_json::Value,
    (method, path, name): (&str, &str, &str),
    a: &Answer,
    want: Option<u16>,
    context: &str,
) {
    match want {
        Some(403) => {
            assert_eq!(a.status, 403, "{context}: {}", a.body);
            assert_error(a, "forbidden", context);
        }
        Some(404) => {
            assert_eq!(a.status, 404, "{context}: {}", a.body);
            assert_error(a, "not_found", context);
            // The same answer as for an object that does not exist.
            let (missing, missing_name) = missing_twin(w, method, path, context).await;
            assert_eq!(a.body["hint"], missing.body["hint"], "{context}");
            let text = |b: &serde_json::Value, n: &str| {
                let words = b["message"].as_str().unwrap_or("").split(' ');
                words.map(|w| if w.trim_matches('"') == n { "NAME" } else { w }).collect::<Vec<_>>().join(" ")
            };
            assert_eq!(text(&a.body, name), text(&missing.body, missing_name), "{context}");
        }
        _ => {
            assert!(![401, 403, 404].contains(&a.status.as_u16()), "{context}: allowed, got {} {}", a.status, a.body);
            if a.status.is_success() {
                if let Some(s) = schema::response_schema(doc, method, path, a.status.as_u16()) {
                    let problems = schema::check(doc, s, &a.body);
                    assert!(problems.is_empty(), "{context}: the answer does not match the document: {problems:#?}");
                } else {
                    let text = doc["paths"][path][method]["responses"][a.status.as_str()].to_string();
                    assert!(
                        text.contains("text/plain") || text.contains("text/event-stream") || path.ends_with("z"),
                        "{context}: no schema for {}",
                        a.status
                    );
                }
            } else {
                let code = a.body["code"].as_str().unwrap_or("").to_owned();
                assert_error(a, &code, context);
            }
        }
    }
}

/// The 404 of an object of the same kind that does not exist (asked by an unconfined admin),
/// and the name it used.
async fn missing_twin(w: &World, method: &str, path: &str, context: &str) -> (Answer, &'static str) {
    let name = if path.contains("{account}") {
        "zzzzzzzz"
    } else if path.contains("{name}") {
        "nosuch"
    } else {
        "rot_nosuch"
    };
    let uri = path.replace("{account}", name).replace("{name}", name).replace("{id}", name);
    let a = w.call(method, &uri, Some(w.token("admin")), None).await;
    assert_eq!(a.status, 404, "{context}: twin {uri}: {}", a.body);
    (a, name)
}
