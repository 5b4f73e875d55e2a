//! The server-side findings of the security review, each test named after its finding.

use crate::world::{assert_error, World};
use rekey_domain::DurationMs;
use rekey_server::{config::AuthConfig, Config};
use rekey_store::AuditRecord;
use serde_json::Value;
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

async fn audit(w: &World) -> Vec<AuditRecord> {
    w.engine.audit_page(0, 100_000).await.unwrap()
}

fn from(last: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, last], 50000))
}

#[tokio::test]
async fn m3_a_folder_scoped_admin_token_cannot_run_discovery() {
    let w = World::new().await;
    let a = w.call("POST", "/api/v1/providers/p/discover", Some(w.token("admin@ops")), None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_error(&a, "forbidden", "scoped discovery");
    assert!(!a.body.to_string().contains("bob"), "nothing of other folders in the refusal");
    let a = w.call("POST", "/api/v1/providers/p/discover", Some(w.token("admin")), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let users: Vec<&str> =
        a.body["users"].as_array().unwrap().iter().map(|u| u["user_name"].as_str().unwrap()).collect();
    assert!(users.contains(&"bob") && users.contains(&"svc"), "an unconfined admin sees every user: {users:?}");
}

#[tokio::test]
async fn m6_failed_logins_are_aggregated_never_attributed_and_throttled() {
    let config = Config {
        auth: AuthConfig { max_failures: 5, failure_window: DurationMs::from_secs(3_600) },
        ..Config::default()
    };
    let w = World::with_config(config).await;
    let admin = w.token("admin").to_owned();
    let id = &admin[3..15];
    let guess = format!("rk_{id}_{}", "0".repeat(64));
    let before = audit(&w).await.len();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let a = w.call_from(from(1), "GET", "/api/v1/accounts", Some(&guess), None).await;
        if a.status == 429 {
            assert!(a.headers.contains_key("retry-after"), "429 says when to retry");
            assert_error(&a, "too_many_requests", "throttled");
        } else {
            assert_error(&a, "unauthorized", "a wrong secret");
        }
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25, "{statuses:?}");
    // The throttled source is refused even with the right token; another source is not.
    assert_eq!(w.call_from(from(1), "GET", "/api/v1/accounts", Some(&admin), None).await.status, 429);
    assert_eq!(w.call_from(from(2), "GET", "/api/v1/accounts", Some(&admin), None).await.status, 200);
    // Requests without a token are no guesses: never throttled, audited all the same.
    for _ in 0..20 {
        assert_eq!(w.call_from(from(3), "GET", "/metrics", None, None).await.status, 401);
    }

    let failed = |events: &[AuditRecord]| -> Vec<AuditRecord> {
        events.iter().filter(|e| e.entry.action == "api.auth-failed").cloned().collect()
    };
    let events = audit(&w).await;
    assert_eq!(failed(&events[before..]).len(), 2, "one event per source and token at first: {:#?}", failed(&events));
    w.state.flush_auth_failures().await;
    let events = audit(&w).await;
    let failed = failed(&events[before..]);
    assert!(failed.len() <= 4, "51 failures make at most 4 events: {failed:#?}");
    let total = |source: &str| -> u64 {
        failed
            .iter()
            .filter(|e| e.entry.detail["source"] == source)
            .map(|e| e.entry.detail["failures"].as_u64().unwrap())
            .sum()
    };
    assert_eq!((total("192.0.2.1"), total("192.0.2.3")), (31, 20), "every failure is counted: {failed:#?}");
    for e in &failed {
        assert_eq!(e.entry.actor, "anonymous", "never attributed to a token: {e:?}");
    }
    let reason = |r: &str| -> u64 {
        failed
            .iter()
            .filter(|e| e.entry.detail["claimed_token"] == id)
            .filter_map(|e| e.entry.detail["reasons"][r].as_u64())
            .sum()
    };
    assert_eq!((reason("invalid"), reason("throttled")), (5, 26), "by reason, with the token id claimed: {failed:#?}");
    let attributed =
        events[before..].iter().filter(|e| e.entry.actor == format!("token:{id}") && e.entry.outcome == "denied");
    assert_eq!(attributed.count(), 0, "no denied request is attributed to the token whose id was guessed");
}

#[tokio::test]
async fn m6_a_throttled_source_may_try_again_after_the_window() {
    let config =
        Config { auth: AuthConfig { max_failures: 1, failure_window: DurationMs::from_secs(1) }, ..Config::default() };
    let w = World::with_config(config).await;
    let admin = w.token("admin").to_owned();
    let guess = format!("rk_{}_{}", &admin[3..15], "0".repeat(64));
    assert_eq!(w.call_from(from(1), "GET", "/api/v1/accounts", Some(&guess), None).await.status, 401);
    assert_eq!(w.call_from(from(1), "GET", "/api/v1/accounts", Some(&admin), None).await.status, 429);
    let mut status = 429;
    for _ in 0..200 {
        status = w.call_from(from(1), "GET", "/api/v1/accounts", Some(&admin), None).await.status.as_u16();
        if status != 429 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "the window ended");
}

#[tokio::test]
async fn l4_a_checked_out_password_is_not_rotated_or_revealed_without_force() {
    let w = World::new().await;
    let alice = w.alice.id.to_string();
    let path = |action: &str| format!("/api/v1/accounts/{alice}/{action}");
    let out = w.call("POST", &path("checkout"), Some(w.token("operator@ops")), Some(r#"{"ttl":"10m"}"#)).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let seen = out.body["password"].as_str().unwrap().to_owned();
    let holder = format!("token:{}", &w.token("operator@ops")[3..15]);

    let a = w.call("POST", &path("reveal"), Some(w.token("admin")), None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_error(&a, "conflict", "reveal of a checked-out password");
    assert!(a.body["message"].as_str().unwrap().contains(&holder), "names the holder: {}", a.body);
    let a = w.call("POST", &path("rotate"), Some(w.token("operator")), None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    // The holder is told it is its own check-out, and how to end it.
    let own = w.call("POST", &path("rotate"), Some(w.token("operator@ops")), None).await;
    assert_eq!(own.status, 409, "{}", own.body);
    assert!(own.body["message"].as_str().unwrap().contains("checked out by you"), "{}", own.body);
    assert!(own.body["hint"].as_str().unwrap().contains("check it in"), "{}", own.body);
    assert_eq!(w.aws.password("alice").as_deref(), Some(seen.as_str()), "the holder's password still works");

    let a = w.call("POST", &format!("{}?force=true", path("reveal")), Some(w.token("admin")), None).await;
    assert_eq!((a.status.as_u16(), a.body["secret"].as_str()), (200, Some(seen.as_str())), "{}", a.body);
    let a = w.call("POST", &format!("{}?force=true", path("rotate")), Some(w.token("operator")), None).await;
    assert_eq!((a.status.as_u16(), a.body["outcome"].as_str()), (200, Some("done")), "{}", a.body);
    assert_ne!(w.aws.password("alice").as_deref(), Some(seen.as_str()), "forced: the holder's copy is dead");

    let overrides: Vec<AuditRecord> =
        audit(&w).await.into_iter().filter(|e| e.entry.action == "account.checkout-override").collect();
    let detail: Vec<(&str, &Value, &str)> = overrides
        .iter()
        .map(|e| (e.entry.actor.as_str(), &e.entry.detail["action"], e.entry.detail["holder"].as_str().unwrap()))
        .collect();
    assert_eq!(
        detail,
        [
            (format!("token:{}", &w.token("admin")[3..15]).as_str(), &Value::from("reveal"), holder.as_str()),
            (format!("token:{}", &w.token("operator")[3..15]).as_str(), &Value::from("rotate"), holder.as_str()),
        ],
        "each override is audited with who overrode whose check-out"
    );

    // Once it is returned, nothing stands in the way.
    assert_eq!(w.call("POST", &path("checkin"), Some(w.token("operator@ops")), None).await.status, 200);
    assert_eq!(w.call("POST", &path("reveal"), Some(w.token("admin")), None).await.status, 200);
}

#[tokio::test]
async fn l5_api_answers_are_never_cached_and_hsts_is_sent_under_tls() {
    let w = World::new().await;
    let admin = w.token("admin");
    let checkout = format!("/api/v1/accounts/{}/checkout", w.alice.id);
    for (method, uri) in [
        ("POST", format!("/api/v1/accounts/{}/reveal", w.svc.id)),
        ("POST", checkout),
        ("GET", "/api/v1/accounts".to_owned()),
        ("GET", "/api/v1/accounts/zzzzzzzz".to_owned()),
        ("GET", "/metrics".to_owned()),
    ] {
        let a = w.call(method, &uri, Some(admin), None).await;
        assert_eq!(a.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{uri}");
        assert!(!a.headers.contains_key("strict-transport-security"), "no HSTS over plain HTTP");
    }
    let page = w.call("GET", "/ui/", None, None).await;
    assert_eq!(page.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-cache"));
    // Every API call of the console goes through `api()` in api.js.
    let script = w.call("GET", "/ui/api.js", None, None).await;
    assert!(script.body.as_str().unwrap().contains(r#"cache: "no-store""#), "the console's calls bypass the cache");

    let tls = Config { tls_cert: Some("c.pem".into()), tls_key: Some("k.pem".into()), ..Config::default() };
    let w = World::with_config(tls).await;
    for uri in ["/healthz", "/api/v1/accounts", "/ui/"] {
        let a = w.call("GET", uri, Some(w.token("admin")), None).await;
        assert_eq!(a.headers.get("strict-transport-security").map(|v| v.to_str().unwrap()), Some("max-age=31536000"));
    }
}

#[tokio::test]
async fn l10_confined_tokens_see_only_their_providers_and_no_metrics() {
    let w = World::new().await;
    let names = |body: &Value| -> Vec<String> {
        body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
    };
    let a = w.call("GET", "/api/v1/providers", Some(w.token("operator@ops")), None).await;
    assert_eq!(names(&a.body), ["p"]);
    let a = w.call("GET", "/api/v1/providers", Some(w.token("operator@finance")), None).await;
    assert_eq!(names(&a.body), ["q"]);
    let a = w.call("GET", "/api/v1/providers", Some(w.token("auditor")), None).await;
    assert_eq!(names(&a.body), ["p", "q"]);

    // Other folders' objects are "not found", exactly like objects that do not exist.
    let ops = w.token("operator@ops");
    let hidden = w.call("GET", "/api/v1/accounts?provider=q", Some(ops), None).await;
    let missing = w.call("GET", "/api/v1/accounts?provider=nosuch", Some(ops), None).await;
    assert_eq!((hidden.status.as_u16(), missing.status.as_u16()), (404, 404));
    assert_eq!(hidden.body["message"].as_str().unwrap().replace("\"q\"", "\"nosuch\""), missing.body["message"]);
    let a = w.call("GET", &format!("/api/v1/rotations?account={}", w.bob.id), Some(ops), None).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = w.call("GET", "/api/v1/rotations", Some(ops), None).await;
    let accounts: Vec<&str> =
        a.body["items"].as_array().unwrap().iter().map(|r| r["account_id"].as_str().unwrap()).collect();
    assert_eq!(accounts, [w.svc.id.as_str()], "only the rotations of its folders");

    let a = w.call("GET", "/metrics", Some(w.token("auditor@ops")), None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(!a.body.to_string().contains(w.bob.id.as_str()));
    let a = w.call("GET", "/metrics", Some(w.token("auditor")), None).await;
    assert_eq!(a.status, 200);
}

#[test]
fn l5_plain_http_on_a_non_loopback_address_is_warned() {
    let warn = |addr: &str, tls: bool| rekey_server::plain_http_warning(addr.parse().unwrap(), tls);
    for exposed in ["0.0.0.0:8270", "192.0.2.7:443", "[::]:8270"] {
        assert!(warn(exposed, false).is_some_and(|w| w.contains("plain HTTP")), "{exposed}");
        assert_eq!(warn(exposed, true), None, "{exposed} under TLS");
    }
    for local in ["127.0.0.1:8270", "127.5.0.1:1", "[::1]:8270"] {
        assert_eq!(warn(local, false), None, "{local}");
    }
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_the_token_cache_ttl() {
    let w = World::new().await;
    let token = w.token("operator").to_owned();
    let who = w.call("GET", "/api/v1/whoami", Some(&token), None).await;
    assert_eq!(who.status, 200, "{}", who.body);
    let id = who.body["token_id"].as_str().unwrap().to_owned();
    w.engine.revoke_token(&id).await.unwrap();
    let revoked = Instant::now();
    // The token was verified (and remembered) just before: it may still pass for up to the TTL.
    let bound = rekey_server::TOKEN_CACHE_TTL + Duration::from_secs(3);
    loop {
        let a = w.call("GET", "/api/v1/accounts?limit=1", Some(&token), None).await;
        if a.status == 401 {
            assert_error(&a, "unauthorized", "a revoked token");
            break;
        }
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(revoked.elapsed() < bound, "still accepted {:?} after its revocation", revoked.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for path in ["/api/v1/whoami", "/api/v1/overview"] {
        let a = w.call("GET", path, Some(&token), None).await;
        assert_eq!(a.status, 401, "{path} stays refused: {}", a.body);
    }
    let other = w.call("GET", "/api/v1/whoami", Some(w.token("auditor")), None).await;
    assert_eq!(other.status, 200, "other tokens are untouched: {}", other.body);
}

/// An admin token confined to folders may move an account only between folders it covers: not
/// into another team's folder, not out of every folder. Each refusal changes nothing.
#[tokio::test]
async fn a_confined_admin_moves_accounts_only_within_its_folders() {
    let w = World::new().await;
    let svc = format!("/api/v1/accounts/{}", w.svc.id);
    let settings = format!("{svc}/settings");
    for to in ["finance", "", "opsx"] {
        let body = serde_json::json!({ "folder": to }).to_string();
        let a = w.call("PATCH", &settings, Some(w.token("admin@ops")), Some(&body)).await;
        assert_eq!(a.status, 403, "to {to:?}: {}", a.body);
        assert_error(&a, "forbidden", "a folder outside the token's");
        let now = w.call("GET", &svc, Some(w.token("admin")), None).await;
        assert_eq!(now.body["folder"], "ops/team", "to {to:?} changed the account: {}", now.body);
    }
    let a = w.call("PATCH", &settings, Some(w.token("admin@ops")), Some(r#"{"folder":"ops/other"}"#)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["folder"], "ops/other", "{}", a.body);
    let a = w.call("PATCH", &settings, Some(w.token("admin")), Some(r#"{"folder":""}"#)).await;
    assert_eq!(a.status, 200, "an unconfined admin may: {}", a.body);
}

/// A token the server cannot check (the vault does not answer the revocation look-up) is
/// answered 503, and those answers are not counted as failed guesses: once the vault answers
/// again, the same client from the same address gets in.
#[tokio::test]
async fn a_token_that_cannot_be_checked_is_a_503_not_a_failed_guess() {
    let w = World::new().await;
    let minted = w.engine.create_token("busy", rekey_domain::Role::Auditor, vec![], None).await.unwrap();
    let bearer = minted.bearer.expose().to_owned();
    let source = std::net::SocketAddr::from(([10, 7, 0, 1], 40000));
    w.sql("ALTER TABLE audit_events RENAME TO audit_events_away", &[]).await;
    for _ in 0..15 {
        let a = w.call_from(source, "GET", "/api/v1/whoami", Some(&bearer), None).await;
        assert_eq!(a.status, 503, "{}", a.body);
        assert_error(&a, "storage", "an unchecked token");
    }
    w.sql("ALTER TABLE audit_events_away RENAME TO audit_events", &[]).await;
    let a = w.call_from(source, "GET", "/api/v1/whoami", Some(&bearer), None).await;
    assert_eq!(a.status, 200, "not throttled: {}", a.body);
}
