//! The listings the console is built on: `whoami`, the account list's envelope, filters,
//! paging and folder scope, the overview's counts (each the total of its filtered list, per
//! token), the rotation journal and audit log newest first, filtered totals capped at 10,000
//! unless `count=exact`, and bad query values answered 400.

use crate::world::{assert_error, World};
use rekey_store::listing::{Cursor, CursorKey};
use serde_json::Value;
use std::collections::BTreeSet;

#[tokio::test]
async fn whoami_names_the_token_its_role_folders_and_what_it_may_do() {
    let w = World::new().await;
    for (token, role, folders, allowed) in [
        ("admin", "admin", Value::Null, [true, true, true, true, true, true]),
        ("admin@ops", "admin", serde_json::json!(["ops"]), [true, true, true, true, true, false]),
        ("operator", "operator", Value::Null, [true, true, true, false, false, false]),
        ("auditor", "auditor", Value::Null, [true, false, false, false, false, true]),
        ("auditor@ops", "auditor", serde_json::json!(["ops"]), [true, false, false, false, false, false]),
    ] {
        let a = w.call("GET", "/api/v1/whoami", Some(w.token(token)), None).await;
        assert_eq!(a.status, 200, "{token}: {}", a.body);
        assert_eq!((a.body["name"].as_str(), a.body["role"].as_str()), (Some(token), Some(role)));
        assert_eq!(a.body["folders"], folders, "{token}");
        assert_eq!(a.body["token_id"].as_str().map(str::len), Some(12), "{token}");
        let names = ["read", "operate", "checkout", "reveal", "administer", "audit"];
        let got: Vec<bool> = names.iter().map(|n| a.body["allows"][n].as_bool().unwrap()).collect();
        assert_eq!(got, allowed, "{token}");
    }
    let a = w.call("GET", "/api/v1/whoami", None, None).await;
    assert_error(&a, "unauthorized", "whoami without a token");
}

/// The ids of every page of `uri` (which has no `?` yet or ends with `&`), one item at a time.
async fn walk(w: &World, token: &str, uri: &str) -> (Vec<String>, i64) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    for _ in 0..20 {
        let page = match &cursor {
            Some(c) => format!("{uri}limit=1&cursor={c}"),
            None => format!("{uri}limit=1"),
        };
        let a = w.call("GET", &page, Some(w.token(token)), None).await;
        assert_eq!(a.status, 200, "{page}: {}", a.body);
        let items = a.body["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{page}");
        ids.extend(items.iter().map(|i| i["id"].as_str().or(i["seq"].as_i64().map(|_| "")).unwrap().to_owned()));
        assert!(total.is_none_or(|t| a.body["total"].as_i64() == Some(t)), "the same total on every page");
        total = a.body["total"].as_i64();
        match a.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (ids, total.unwrap()),
        }
    }
    panic!("{uri}: more than 20 pages")
}

#[tokio::test]
async fn the_account_list_pages_filters_and_keeps_to_the_tokens_folders() {
    let w = World::new().await;
    let (ids, total) = walk(&w, "admin", "/api/v1/accounts?").await;
    let all: BTreeSet<String> = [&w.svc, &w.alice, &w.bob].iter().map(|a| a.id.to_string()).collect();
    assert_eq!((ids.iter().cloned().collect::<BTreeSet<_>>(), total), (all, 3), "each account once");
    assert_eq!(ids.len(), 3);
    let (ids, total) = walk(&w, "operator@ops", "/api/v1/accounts?").await;
    assert_eq!((ids.len(), total), (2, 2));
    assert!(!ids.contains(&w.bob.id.to_string()), "bob is in finance");
    let (ids, _) = walk(&w, "operator@finance", "/api/v1/accounts?sort=due&order=desc&").await;
    assert_eq!(ids, [w.bob.id.to_string()]);
    for (filter, expected) in [
        ("kind=password", vec![&w.alice]),
        ("kind=access_key", vec![&w.bob, &w.svc]),
        ("q=BO", vec![&w.bob]),
        ("provider=q", vec![&w.bob]),
        ("folder=ops", vec![&w.alice, &w.svc]),
        ("heartbeat=never", vec![&w.alice]),
        ("heartbeat=ok", vec![&w.bob, &w.svc]),
        ("rotation=failed", vec![]),
        ("overdue=true", vec![]),
        ("checked_out=false", vec![&w.alice, &w.bob, &w.svc]),
    ] {
        let a = w.call("GET", &format!("/api/v1/accounts?{filter}"), Some(w.token("admin")), None).await;
        let names: Vec<&str> =
            a.body["items"].as_array().unwrap().iter().map(|i| i["user_name"].as_str().unwrap()).collect();
        let want: Vec<&str> = expected.iter().map(|a| a.user_name.as_str()).collect();
        assert_eq!((names, a.body["total"].as_i64()), (want.clone(), Some(want.len() as i64)), "{filter}");
    }
    let key = w.svc.current_key_id.clone().unwrap();
    let a = w.call("GET", &format!("/api/v1/accounts?key_id={key}"), Some(w.token("auditor")), None).await;
    assert_eq!(a.body["items"][0]["id"], w.svc.id.as_str(), "{}", a.body);
    let item = &a.body["items"][0];
    assert_eq!(item["ref"], format!("p/svc/access-key"));
    assert_eq!((item["overdue"].as_bool(), item["checked_out_by"].is_null()), (Some(false), true));
    assert_eq!(
        (item["last_rotation"]["id"].as_str(), item["last_rotation"]["outcome"].as_str()),
        (Some(w.rotation_ops.as_str()), Some("done"))
    );
    let one = w.call("GET", &format!("/api/v1/accounts/{}", w.svc.id), Some(w.token("auditor")), None).await;
    assert_eq!(one.body, *item, "one shape for the list and the account");
}

#[tokio::test]
async fn overview_counts_equal_the_totals_of_the_filtered_lists_per_token() {
    let w = World::new().await;
    let co =
        w.call("POST", &format!("/api/v1/accounts/{}/checkout", w.alice.id), Some(w.token("operator")), None).await;
    assert_eq!(co.status, 200, "{}", co.body);
    for token in ["admin", "operator@ops", "operator@finance", "auditor@ops"] {
        let o = w.call("GET", "/api/v1/overview", Some(w.token(token)), None).await;
        assert_eq!(o.status, 200, "{token}: {}", o.body);
        let w = &w;
        let total = |filter: &str| {
            let uri = format!("/api/v1/accounts?limit=1&{filter}");
            async move { w.call("GET", &uri, Some(w.token(token)), None).await.body["total"].as_i64().unwrap() }
        };
        assert_eq!(o.body["accounts"].as_i64(), Some(total("").await), "{token}");
        for (count, filter) in [
            ("overdue", "overdue=true"),
            ("heartbeat_failing", "heartbeat=failing"),
            ("rotations_failed", "rotation=failed"),
            ("foreign_keys", "owner=foreign"),
            ("checked_out", "checked_out=true"),
        ] {
            assert_eq!(o.body[count].as_i64(), Some(total(filter).await), "{token}: {count}");
        }
        let kinds = o.body["by_kind"]["access_key"].as_i64().unwrap() + o.body["by_kind"]["password"].as_i64().unwrap();
        assert_eq!(Some(kinds), o.body["accounts"].as_i64(), "{token}");
        let ages: i64 = o.body["age_days"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
        assert_eq!(Some(ages), o.body["accounts"].as_i64(), "{token}");
    }
    let ops = w.call("GET", "/api/v1/overview", Some(w.token("operator@ops")), None).await;
    assert_eq!((ops.body["accounts"].as_i64(), ops.body["checked_out"].as_i64()), (Some(2), Some(1)));
    let fin = w.call("GET", "/api/v1/overview", Some(w.token("operator@finance")), None).await;
    assert_eq!((fin.body["accounts"].as_i64(), fin.body["checked_out"].as_i64()), (Some(1), Some(0)));
    let a = w.call("GET", "/api/v1/accounts?checked_out=true", Some(w.token("admin")), None).await;
    let operator = w.call("GET", "/api/v1/whoami", Some(w.token("operator")), None).await.body;
    let holder = format!("token:{}", operator["token_id"].as_str().unwrap());
    let item = &a.body["items"][0];
    assert_eq!((&item["checked_out_by"], &item["checked_out_by_name"]), (&holder.into(), &"operator".into()));
    let one = w.call("GET", &format!("/api/v1/accounts/{}", w.alice.id), Some(w.token("admin")), None).await;
    assert_eq!(one.body, *item, "the account page names the holder as the list does");
}

#[tokio::test]
async fn an_accounts_versions_are_listed_newest_first_without_secrets() {
    let w = World::new().await;
    let a = w.call("GET", &format!("/api/v1/accounts/{}/versions", w.svc.id), Some(w.token("auditor")), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let versions = a.body.as_array().unwrap();
    let numbers: Vec<i64> = versions.iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [2, 1], "the adopted key and the rotated one, newest first: {}", a.body);
    assert_eq!(versions[0]["state"], "current");
    assert_eq!(versions[0]["key_id"].as_str(), w.svc.current_key_id.as_deref());
    assert_eq!((&versions[0]["origin"], &versions[1]["origin"]), (&"created".into(), &"adopted".into()));
    assert_ne!(versions[1]["state"], "current", "{}", a.body);
    for v in versions {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "key_id", "origin", "state", "version"], "facts only, never a secret");
    }
    let uri = format!("/api/v1/accounts/{}/versions", w.bob.id);
    assert_error(&w.call("GET", &uri, Some(w.token("auditor@ops")), None).await, "not_found", "another folder's");
}

#[tokio::test]
async fn the_journal_and_the_audit_log_page_newest_first() {
    let w = World::new().await;
    let (ids, total) = walk(&w, "admin", "/api/v1/rotations?").await;
    assert_eq!((ids.clone(), total), (vec![w.rotation_finance.clone(), w.rotation_ops.clone()], 2), "newest first");
    let (ids, _) = walk(&w, "operator@ops", "/api/v1/rotations?").await;
    assert_eq!(ids, std::slice::from_ref(&w.rotation_ops), "only its folders'");
    for (filter, total) in
        [("outcome=aborted", 0), ("outcome=done", 2), ("outcome=running", 0), ("phase=done", 2), ("phase=created", 0)]
    {
        let a = w.call("GET", &format!("/api/v1/rotations?{filter}"), Some(w.token("admin")), None).await;
        assert_eq!(a.body["total"], total, "{filter}: {}", a.body);
    }
    let mine = w.call("GET", "/api/v1/rotations?outcome=done", Some(w.token("operator@ops")), None).await;
    assert_eq!(mine.body["items"][0]["id"], w.rotation_ops.as_str(), "the filter keeps to the token's folders");
    assert_eq!(mine.body["total"], 1);
    let a = w.call("GET", "/api/v1/audit?limit=5", Some(w.token("auditor")), None).await;
    let seqs: Vec<i64> = a.body["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]) && seqs.len() == 5, "{seqs:?}");
    let next = a.body["next_cursor"].as_str().unwrap();
    let b = w.call("GET", &format!("/api/v1/audit?limit=5&cursor={next}"), Some(w.token("auditor")), None).await;
    assert!(b.body["items"][0]["seq"].as_i64().unwrap() < *seqs.last().unwrap(), "{}", b.body);
    let a = w.call("GET", "/api/v1/audit?action=token.create", Some(w.token("auditor")), None).await;
    assert_eq!(a.body["total"].as_i64(), Some(w.tokens.len() as i64), "{}", a.body);
}

#[tokio::test]
async fn bad_listing_parameters_are_400_with_the_error_shape() {
    let w = World::new().await;
    let due = w.call("GET", "/api/v1/accounts?limit=1&sort=due", Some(w.token("admin")), None).await;
    let due_cursor = due.body["next_cursor"].as_str().unwrap().to_owned();
    // Forged: a key of the kind the sort does not have (a name compared with a number).
    let forged = |sort: &str, key: CursorKey| Cursor { sort: sort.into(), key, id: "x".into() }.encode();
    let wrong_kinds = [
        format!("/api/v1/accounts?cursor={}", forged("name.asc", CursorKey::Int(5))),
        format!("/api/v1/accounts?sort=due&cursor={}", forged("due.asc", CursorKey::Text("abc".into()))),
        format!("/api/v1/rotations?cursor={}", forged("started", CursorKey::Text("abc".into()))),
        format!("/api/v1/audit?cursor={}", forged("seq", CursorKey::Text("abc".into()))),
    ];
    for uri in wrong_kinds.into_iter().chain([
        "/api/v1/accounts?limit=0".to_owned(),
        "/api/v1/accounts?limit=501".to_owned(),
        "/api/v1/accounts?cursor=%21%21".to_owned(),
        format!("/api/v1/accounts?cursor={due_cursor}"),
        "/api/v1/accounts?sort=size".to_owned(),
        "/api/v1/accounts?order=up".to_owned(),
        "/api/v1/accounts?kind=key".to_owned(),
        "/api/v1/accounts?heartbeat=maybe".to_owned(),
        "/api/v1/accounts?overdue=perhaps".to_owned(),
        "/api/v1/accounts?owner=me".to_owned(),
        "/api/v1/accounts?rotation=ok".to_owned(),
        "/api/v1/accounts?checked_out=2".to_owned(),
        "/api/v1/accounts?q=%01".to_owned(),
        "/api/v1/rotations?cursor=abc".to_owned(),
        "/api/v1/rotations?phase=sleeping".to_owned(),
        "/api/v1/rotations?outcome=maybe".to_owned(),
        "/api/v1/audit?limit=501".to_owned(),
        "/api/v1/audit?cursor=zz".to_owned(),
        "/api/v1/accounts?count=estimate".to_owned(),
        "/api/v1/rotations?count=".to_owned(),
        "/api/v1/audit?count=EXACT".to_owned(),
    ]) {
        let a = w.call("GET", &uri, Some(w.token("admin")), None).await;
        assert_eq!(a.status, 400, "{uri}: {}", a.body);
        assert_error(&a, "usage", &uri);
    }
}

/// 10,001 more rows of each listing, written straight into the vault (far quicker than through
/// rekey): access-key accounts copied from `svc` (their rows fail the integrity check, which
/// counting never reads), finished rotations of `svc`, and `rotation.phase` events.
async fn add_10001_of_each(w: &World) {
    const N: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001) ";
    let accounts = format!(
        "{N}INSERT INTO accounts (id, provider, user_name, user_id, arn, kind, folder, title, status, settings, \
         created_at, updated_at, mac) SELECT 'bk' || printf('%06d', i), provider, 'bulk' || printf('%05d', i), \
         user_id, arn, kind, folder, title, status, settings, created_at, updated_at, mac FROM n, accounts \
         WHERE accounts.id = ?1"
    );
    let rotations = format!(
        "{N}INSERT INTO rotations (id, account_id, kind, phase, data, started_at, updated_at, finished_at) \
         SELECT 'bulk' || i, ?1, 'access-key', 'done', '{{}}', i, i, i FROM n"
    );
    let events = format!(
        "{N}INSERT INTO audit_events (at, actor, action, outcome, detail, prev_hash, hash) \
         SELECT i, 'scheduler', 'rotation.phase', 'ok', '{{}}', '', '' FROM n"
    );
    for statement in [accounts, rotations] {
        assert_eq!(w.sql(&statement, &[w.svc.id.as_str()]).await, 10_001, "{statement}");
    }
    assert_eq!(w.sql(&events, &[]).await, 10_001);
}

#[tokio::test]
async fn a_filtered_total_stops_at_10000_unless_count_is_exact() {
    let w = World::new().await;
    let before = w.call("GET", "/api/v1/audit?limit=1", Some(w.token("admin")), None).await.body["total"].clone();
    let phases = w.call("GET", "/api/v1/audit?limit=1&action=rotation.phase", Some(w.token("admin")), None).await.body
        ["total"]
        .clone();
    add_10001_of_each(&w).await;
    let events = before.as_i64().unwrap() + 10_001;
    let phases = phases.as_i64().unwrap() + 10_001;
    for (uri, total, exact) in [
        ("/api/v1/accounts?limit=1", 10_004, true),
        ("/api/v1/accounts?limit=1&kind=access_key", 10_000, false),
        ("/api/v1/accounts?limit=1&kind=access_key&count=exact", 10_003, true),
        ("/api/v1/accounts?limit=1&kind=password", 1, true),
        ("/api/v1/accounts?limit=1&folder=finance&count=exact", 1, true),
        ("/api/v1/rotations?limit=1", 10_003, true),
        ("/api/v1/rotations?limit=1&outcome=done", 10_000, false),
        ("/api/v1/rotations?limit=1&outcome=done&count=exact", 10_003, true),
        ("/api/v1/rotations?limit=1&outcome=aborted", 0, true),
        ("/api/v1/audit?limit=1", events, true),
        ("/api/v1/audit?limit=1&action=rotation.phase", 10_000, false),
        ("/api/v1/audit?limit=1&action=rotation.phase&count=exact", phases, true),
    ] {
        let a = w.call("GET", uri, Some(w.token("admin")), None).await;
        assert_eq!(a.status, 200, "{uri}: {}", a.body);
        assert_eq!((a.body["total"].as_i64(), a.body["total_exact"].as_bool()), (Some(total), Some(exact)), "{uri}");
        assert_eq!(a.body["items"].as_array().map(Vec::len), Some(usize::from(total > 0)), "{uri}: one item a page");
    }
    let o = w.call("GET", "/api/v1/overview", Some(w.token("admin")), None).await;
    assert_eq!(o.body["by_kind"]["access_key"].as_i64(), Some(10_003), "the overview's counts stay exact");
    let doc = w.doc().await;
    for path in ["/api/v1/accounts", "/api/v1/rotations", "/api/v1/audit"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let count = params.iter().find(|p| p["name"] == "count").unwrap_or_else(|| panic!("{path}: no count"));
        assert_eq!(count["in"], "query", "{path}");
        assert!(count["description"].as_str().unwrap().contains("exact"), "{path}: {count}");
    }
    let a = w.call("GET", "/api/v1/accounts?count=estimate", Some(w.token("admin")), None).await;
    assert_error(&a, "usage", "count=estimate");
    let (message, hint) = (a.body["message"].as_str().unwrap(), a.body["hint"].as_str().unwrap());
    assert!(message.contains("count=\"estimate\"") && hint.contains("count=exact"), "{}", a.body);
}

#[tokio::test]
async fn a_finished_rotation_streams_one_event_as_shown_and_ends() {
    let w = World::new().await;
    let uri = format!("/api/v1/rotations/{}/events", w.rotation_ops);
    let a = w.call("GET", &uri, Some(w.token("auditor@ops")), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let ctype = a.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let text = a.body.as_str().unwrap();
    assert!(text.contains("event: rotation"), "{text}");
    let data: Vec<Value> =
        text.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| serde_json::from_str(d.trim()).unwrap()).collect();
    let shown = w.call("GET", &format!("/api/v1/rotations/{}", w.rotation_ops), Some(w.token("auditor")), None).await;
    assert_eq!(data, [shown.body], "one event, the rotation as shown, then the end of the stream");
    let other = format!("/api/v1/rotations/{}/events", w.rotation_finance);
    assert_error(&w.call("GET", &other, Some(w.token("auditor@ops")), None).await, "not_found", "another folder's");
}

/// A stream that outlives what allowed it ends: once its token is revoked, and once the account
/// leaves the token's folders. (Rotations carry no MAC: the rotation of `svc` is made to look
/// under way with SQL, so its stream would otherwise go on for ten minutes.)
#[tokio::test]
async fn a_stream_ends_when_its_token_is_revoked_or_the_account_leaves_its_folders() {
    use axum::{body::Body, extract::ConnectInfo, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let w = World::new().await;
    let under_way = "UPDATE rotations SET phase = 'verifying', finished_at = NULL WHERE id = ?";
    assert_eq!(w.sql(under_way, &[&w.rotation_ops]).await, 1);
    let uri = format!("/api/v1/rotations/{}/events", w.rotation_ops);
    let ops = vec!["ops".parse().unwrap()];
    for ending in ["revoked", "moved"] {
        let minted = w.engine.create_token(ending, rekey_domain::Role::Auditor, ops.clone(), None).await.unwrap();
        let mut req = Request::get(&uri)
            .header("authorization", format!("Bearer {}", minted.bearer.expose()))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([10, 9, 0, 1], 40000))));
        let response = w.app.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), 200, "{ending}");
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("\"phase\":\"verifying\""), "{ending}: {first:?}");
        match ending {
            "revoked" => w.engine.revoke_token(&minted.token.id).await.unwrap(),
            _ => {
                let settings = format!("/api/v1/accounts/{}/settings", w.svc.id);
                let a = w.call("PATCH", &settings, Some(w.token("admin")), Some(r#"{"folder":"finance"}"#)).await;
                assert_eq!(a.status, 200, "{}", a.body);
            }
        }
        // The rest of the stream: keep-alive comments at most, then its end.
        let rest = tokio::time::timeout(std::time::Duration::from_secs(60), body.collect())
            .await
            .unwrap_or_else(|_| panic!("{ending}: the stream went on"))
            .unwrap()
            .to_bytes();
        assert!(!String::from_utf8_lossy(&rest).contains("event: rotation"), "{ending}: {rest:?}");
    }
}

/// An account shows only the settings of its kind: no password rules on an access key, no key
/// settings on a password (stored settings hold both; the other kind's are never used).
#[tokio::test]
async fn an_account_shows_only_the_settings_of_its_kind() {
    let w = World::new().await;
    let admin = w.token("admin");
    let (svc, alice) = (format!("/api/v1/accounts/{}", w.svc.id), format!("/api/v1/accounts/{}", w.alice.id));
    let shown = |body: &Value| body["settings"].as_object().unwrap().keys().cloned().collect::<BTreeSet<String>>();
    let a = w.call("PATCH", &format!("{svc}/settings"), Some(admin), Some(r#"{"every":"7d"}"#)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = w.call("PATCH", &format!("{alice}/settings"), Some(admin), Some(r#"{"password_length":40}"#)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let key_only: &[&str] = &["verify", "previous_key", "targets", "retirement", "deactivate_after_ms"];
    let password_only: &[&str] = &["password", "create_login_profile"];
    for (uri, has, lacks) in [(&svc, key_only, password_only), (&alice, password_only, key_only)] {
        let a = w.call("GET", uri, Some(admin), None).await;
        let keys = shown(&a.body);
        assert!(keys.contains("every_ms") || keys.contains("max_age_ms"), "{uri}: the common ones stay: {keys:?}");
        assert!(has.iter().all(|k| keys.contains(*k)), "{uri}: {keys:?}");
        assert!(lacks.iter().all(|k| !keys.contains(*k)), "{uri}: {keys:?}");
        let listed = w.call("GET", "/api/v1/accounts?limit=500", Some(admin), None).await;
        let item = listed.body["items"].as_array().unwrap().iter().find(|i| uri.ends_with(i["id"].as_str().unwrap()));
        assert_eq!(shown(item.unwrap()), keys, "{uri}: listed as shown");
    }
}

/// The value of the counter `name` in the `/metrics` exposition.
async fn counter(w: &World, name: &str) -> u64 {
    let a = w.call("GET", "/metrics", Some(w.token("admin")), None).await;
    let text = a.body.as_str().unwrap_or_default().to_owned();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn identical_reads_made_at_once_are_answered_as_each_would_be_alone() {
    let w = World::new().await;
    let reads = [
        ("admin", "/api/v1/accounts"),
        ("operator@ops", "/api/v1/accounts"),
        ("operator@finance", "/api/v1/accounts"),
        ("admin@ops", "/api/v1/accounts?sort=due"),
        ("auditor@ops", "/api/v1/rotations?limit=20"),
        ("operator", "/api/v1/rotations?limit=20"),
        ("operator@finance", "/api/v1/providers"),
        ("admin", "/api/v1/providers"),
        ("operator@ops", "/api/v1/overview"),
        ("operator", "/api/v1/audit?limit=5"),
        ("auditor", "/api/v1/audit?limit=5"),
        ("admin", "/api/v1/accounts?order=desc"),
    ];
    // What each read answers alone (the overview's time of counting aside).
    let answer = |a: crate::world::Answer| {
        let mut body = a.body;
        if let Some(o) = body.as_object_mut() {
            o.remove("report_at");
        }
        (a.status, body)
    };
    let mut alone = Vec::new();
    for (token, uri) in reads {
        alone.push(answer(w.call("GET", uri, Some(w.token(token)), None).await));
    }
    assert_eq!(alone[9].0, 403, "an operator may not read the audit log: {:?}", alone[9]);
    assert_ne!(alone[0].1, alone[1].1, "a folder's tokens see less than an unconfined one");
    assert_eq!(alone[10].0, 200, "an auditor reads the audit log the operator may not");
    assert_ne!(alone[0].1, alone[11].1, "the same token, another query: another order");
    let shared_before = counter(&w, "rekey_api_shared_answers_total").await;
    for round in 0..5 {
        let burst =
            (0..8).flat_map(|_| reads.iter()).map(|(token, uri)| w.call("GET", uri, Some(w.token(token)), None));
        let answers = futures_util::future::join_all(burst).await;
        for (i, a) in answers.into_iter().enumerate() {
            let (token, uri) = reads[i % reads.len()];
            let (got, expected) = (answer(a), &alone[i % reads.len()]);
            if uri.starts_with("/api/v1/audit") {
                // The log grows with every request's own event: the answer's kind is what counts.
                assert_eq!(got.0, expected.0, "round {round}: {token} {uri}: {}", got.1);
            } else {
                assert_eq!(&got, expected, "round {round}: {token} {uri}");
            }
        }
    }
    let shared = counter(&w, "rekey_api_shared_answers_total").await - shared_before;
    assert!(shared > 0, "reads made at once shared answers");
    // Nothing is kept between bursts: a change made after them shows in the next read.
    let before = w.call("GET", "/api/v1/accounts", Some(w.token("admin")), None).await;
    let hb = w.call("POST", &format!("/api/v1/accounts/{}/heartbeat", w.svc.id), Some(w.token("admin")), None).await;
    assert_eq!(hb.status, 200, "{}", hb.body);
    let after = w.call("GET", "/api/v1/accounts", Some(w.token("admin")), None).await;
    let beat = |a: &crate::world::Answer| {
        a.body["items"].as_array().unwrap().iter().find(|i| i["id"] == w.svc.id.as_str()).unwrap()["heartbeat"]["at"]
            .clone()
    };
    assert_ne!(beat(&after), Value::Null);
    assert_ne!(beat(&before), beat(&after), "the heartbeat made after the burst is listed");
}
