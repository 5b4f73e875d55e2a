//! Bad input to the API: every 4xx is `{code, message, hint}` JSON with the status of its
//! class; unknown fields and parameters are refused; out-of-range values are refused, not
//! clamped.

use crate::world::{assert_error, World};
use axum::{body::Body, http::Request};
use serde_json::json;
use std::net::SocketAddr;

const SOURCE: ([u8; 4], u16) = ([10, 9, 9, 9], 1);

#[tokio::test]
async fn bad_json_bodies_are_400_with_the_parsers_message() {
    let w = World::new().await;
    let admin = w.token("admin");
    let checkout = format!("/api/v1/accounts/{}/checkout", w.alice.id);
    for (body, says) in [
        ("{", "EOF"),
        ("[1, 2]", "the request body must be a JSON object ({…}), not an array"),
        (r#"{"ttl": 5}"#, "invalid type"),
        (r#"{"ttl": "1h", "tll": "2h"}"#, "unknown field `tll`"),
        ("null", "must be a JSON object ({…}), not null"),
    ] {
        let a = w.call("POST", &checkout, Some(admin), Some(body)).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_error(&a, "usage", body);
        assert!(a.body["message"].as_str().unwrap().contains(says), "{body}: {}", a.body);
    }
    let discover = "/api/v1/providers/p/discover";
    let a = w.call("POST", discover, Some(admin), Some(r#"{"per_user": true, "fast": true}"#)).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("unknown field `fast`"), "{}", a.body);
    // Nothing was checked out by the refused requests.
    assert!(w.engine.store().open_checkout_of(&w.alice.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let w = World::new().await;
    let req = Request::post(format!("/api/v1/accounts/{}/checkout", w.alice.id))
        .header("authorization", format!("Bearer {}", w.token("admin")))
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"ttl": "1h"}"#))
        .unwrap();
    let a = w.send(SocketAddr::from(SOURCE), req).await;
    assert_eq!(a.status, 415, "{}", a.body);
    assert_error(&a, "unsupported_media_type", "text/plain");
    let big = format!(r#"{{"ttl": "{}"}}"#, "1".repeat(3 << 20));
    let a =
        w.call("POST", &format!("/api/v1/accounts/{}/checkout", w.alice.id), Some(w.token("admin")), Some(&big)).await;
    assert_eq!(a.status, 413, "a body over 2 MiB");
    assert_error(&a, "payload_too_large", "3 MiB body");
}

#[tokio::test]
async fn bad_query_values_are_refused_not_clamped() {
    let w = World::new().await;
    let admin = w.token("admin");
    for uri in [
        "/api/v1/rotations?limit=-1",
        "/api/v1/rotations?limit=0",
        "/api/v1/rotations?limit=1e9",
        "/api/v1/rotations?limit=1000000000",
        "/api/v1/rotations?limit=99999999999999999999",
        "/api/v1/rotations?limit=ten",
        "/api/v1/rotations?outcome=maybe",
        "/api/v1/rotations?limt=5",
        "/api/v1/audit?limit=1001",
        "/api/v1/audit?after=-5",
        "/api/v1/reports/compliance?max_age_days=-1",
        "/api/v1/reports/compliance?unused_days=4000",
        "/api/v1/reports/compliance?max_age_days=",
        "/api/v1/accounts?colour=red",
        "/api/v1/accounts?provider=bad%20name",
        "/api/v1/accounts?folder=../etc",
    ] {
        let a = w.call("GET", uri, Some(admin), None).await;
        assert_eq!(a.status, 400, "{uri}: {}", a.body);
        assert_error(&a, "usage", uri);
    }
    // A whole-number parameter says what was wrong, its range and an example (not the
    // parser's "invalid digit found in string").
    for (uri, says) in [
        ("/api/v1/rotations?limit=-1", "limit: -1 is out of range: a page holds 1 to 500 items; use e.g. 100"),
        ("/api/v1/accounts?limit=ten", r#"limit: "ten" is not a whole number: a page holds 1 to 500 items"#),
        ("/api/v1/audit?limit=2.5", r#"limit: "2.5" is not a whole number"#),
        ("/api/v1/audit?limit=99999999999999999999", "limit: 99999999999999999999 is out of range"),
        (
            "/api/v1/reports/compliance?unused_days=4000",
            "unused_days: 4000 is out of range: the report's window is 1 to 3650 days; use e.g. 90",
        ),
        ("/api/v1/reports/compliance?max_age_days=", r#"max_age_days: "" is not a whole number"#),
    ] {
        let a = w.call("GET", uri, Some(admin), None).await;
        assert_eq!(a.status, 400, "{uri}: {}", a.body);
        assert_error(&a, "usage", uri);
        let message = a.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{uri}: {message}");
        assert!(!message.contains("invalid digit") && !message.contains("i64"), "{uri}: {message}");
    }
    let a = w.call("GET", "/api/v1/rotations?limit=1", Some(admin), None).await;
    assert_eq!((a.status.as_u16(), a.body["items"].as_array().map(Vec::len)), (200, Some(1)), "in range: {}", a.body);
    for (uri, flag) in [(format!("/api/v1/accounts/{}/rotate?dry_run=true&dryrun=1", w.svc.id), "dryrun")] {
        let a = w.call("POST", &uri, Some(admin), None).await;
        assert_eq!(a.status, 400, "{uri}: {}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains(flag), "{}", a.body);
    }
}

#[tokio::test]
async fn bad_path_values_are_400_and_unknown_objects_404() {
    let w = World::new().await;
    let admin = w.token("admin");
    for uri in ["/api/v1/accounts/a%2Fb", "/api/v1/accounts/NOT-AN-ID", "/api/v1/providers/-x", "/api/v1/accounts/%FF"]
    {
        let a = w.call("GET", uri, Some(admin), None).await;
        assert_eq!(a.status, 400, "{uri}: {}", a.body);
        assert_error(&a, "usage", uri);
    }
    for uri in ["/api/v1/accounts/zzzzzzzz", "/api/v1/providers/nosuch", "/api/v1/rotations/rot_x", "/nothing"] {
        let a = w.call("GET", uri, Some(admin), None).await;
        assert_eq!(a.status, 404, "{uri}: {}", a.body);
        assert_error(&a, "not_found", uri);
    }
}

#[tokio::test]
async fn wrong_methods_are_405_and_long_uris_414_with_a_body() {
    let w = World::new().await;
    let admin = w.token("admin");
    for (method, uri) in [
        ("DELETE", "/api/v1/accounts".to_owned()),
        ("GET", format!("/api/v1/accounts/{}/reveal", w.svc.id)),
        ("PUT", "/healthz".to_owned()),
        ("POST", "/openapi.json".to_owned()),
    ] {
        let a = w.call(method, &uri, Some(admin), None).await;
        assert_eq!(a.status, 405, "{method} {uri}: {}", a.body);
        assert_error(&a, "method_not_allowed", &uri);
        assert!(a.headers.contains_key("allow"), "{method} {uri}: the Allow header is kept");
    }
    let long = format!("/api/v1/accounts?folder={}", "a".repeat(rekey_server::http::MAX_URI));
    let a = w.call("GET", &long, Some(admin), None).await;
    assert_eq!(a.status, 414, "{}", a.body);
    assert_error(&a, "uri_too_long", "a long URI");
}

/// `tampered` is shown, not stored: filtering on it is refused with why, not as an unknown value.
#[tokio::test]
async fn filtering_on_tampered_says_why_it_cannot() {
    let w = World::new().await;
    let a = w.call("GET", "/api/v1/accounts?status=tampered", Some(w.token("admin")), None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_error(&a, "usage", "status=tampered");
    assert!(a.body["message"].as_str().unwrap().contains("cannot be filtered on"), "{}", a.body);
}

/// A bad settings change names the field and what to send instead, in the API's words (not
/// the JSON parser's types and positions), and changes nothing.
#[tokio::test]
async fn settings_patch_errors_name_the_field_and_the_fix() {
    let w = World::new().await;
    let admin = w.token("admin");
    let (svc, alice) = (format!("/api/v1/accounts/{}", w.svc.id), format!("/api/v1/accounts/{}", w.alice.id));
    let before =
        (w.call("GET", &svc, Some(admin), None).await.body, w.call("GET", &alice, Some(admin), None).await.body);
    for (account, body, says) in [
        (&svc, r#"{"every":"60d","no_schedule":true}"#, "no_schedule conflicts with every"),
        (&svc, r#"{"cron":"0 3 1 * *","no_schedule":true}"#, "no_schedule conflicts with cron"),
        (&svc, r#"{"every":""}"#, r#"every: "" is not a duration; use no_schedule: true to remove the schedule"#),
        (&svc, r#"{"cron":""}"#, r#"cron: "" is not a cron schedule; use no_schedule: true"#),
        (&svc, r#"{"max_age":""}"#, r#"max_age: "" is not a duration; leave the field out"#),
        (&svc, r#"{"cron":"61 * * * *"}"#, "the minute field is 61, outside 0–59"),
        (&svc, "[]", "the request body must be a JSON object ({…}), not an array"),
        (&svc, r#"{"title":"a\tb"}"#, "title contains a control character"),
        (
            &alice,
            r#"{"password_length":500}"#,
            "password_length: 500 is out of range: a generated password is 8 to 128",
        ),
        (
            &alice,
            r#"{"password_length":"long"}"#,
            r#"password_length: "long" is not a whole number: a generated password is 8 to 128 characters; use e.g. 32"#,
        ),
        (
            &svc,
            r#"{"verify_successes":"three"}"#,
            r#"verify_successes: "three" is not a whole number: a new key is verified by 1 to 20 consecutive successes; use e.g. 3"#,
        ),
        (&svc, r#"{"verify_successes":0}"#, "verify_successes: 0 is out of range: a new key is verified by 1 to 20"),
        (&svc, r#"{"verify_successes":-2}"#, "verify_successes: -2 is out of range"),
        (&svc, r#"{"verify_successes":1.5}"#, "verify_successes: 1.5 is not a whole number"),
        (&svc, r#"{"verify_successes":"3"}"#, r#"verify_successes: "3" is text, not a number: write 3 without quotes"#),
        (&svc, r#"{"verify_successes":4294967296}"#, "verify_successes: 4294967296 is out of range"),
        (&alice, r#"{"previous_key":"keep"}"#, "previous_key applies to access-key accounts only"),
    ] {
        let a = w.call("PATCH", &format!("{account}/settings"), Some(admin), Some(body)).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_error(&a, "usage", body);
        let message = a.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        for leak in ["u8", "u32", "invalid type", "line 1 column", "SettingsPatch", "elements"] {
            assert!(!message.contains(leak), "{body}: {message}");
        }
    }
    let after =
        (w.call("GET", &svc, Some(admin), None).await.body, w.call("GET", &alice, Some(admin), None).await.body);
    assert_eq!(after, before, "a refused change changed nothing");
    let a = w.call("PATCH", &format!("{alice}/settings"), Some(admin), Some(r#"{"password_length":128}"#)).await;
    assert_eq!(a.status, 200, "128 is in range: {}", a.body);
    // null removes one part of the schedule (what the console sends when one field is emptied).
    let settings = format!("{svc}/settings");
    let a = w.call("PATCH", &settings, Some(admin), Some(r#"{"every":"7d","cron":"0 3 1 * *"}"#)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = w.call("PATCH", &settings, Some(admin), Some(r#"{"every":null}"#)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!((&a.body["settings"]["every_ms"], &a.body["settings"]["cron"]), (&json!(null), &json!("0 3 1 * *")));
    // The document says what the validation accepts.
    let length = &w.doc().await["components"]["schemas"]["SettingsPatch"]["properties"]["password_length"];
    assert_eq!((&length["minimum"], &length["maximum"]), (&8.into(), &128.into()), "{length}");
    let successes = &w.doc().await["components"]["schemas"]["SettingsPatch"]["properties"]["verify_successes"];
    assert_eq!((&successes["minimum"], &successes["maximum"]), (&1.into(), &20.into()), "{successes}");
}

/// An unknown rotation points to the rotations (not to providers and accounts); an unknown
/// phase lists the phases.
#[tokio::test]
async fn unknown_rotations_and_phases_say_where_to_look() {
    let w = World::new().await;
    let admin = w.token("admin");
    for (method, uri) in [("GET", "/api/v1/rotations/rot_nope"), ("POST", "/api/v1/rotations/rot_nope/confirm")] {
        let a = w.call(method, uri, Some(admin), None).await;
        assert_eq!(a.status, 404, "{uri}: {}", a.body);
        let hint = a.body["hint"].as_str().unwrap();
        assert!(hint.contains("rekey rotation list") && hint.contains("GET /api/v1/rotations"), "{uri}: {hint}");
    }
    let a = w.call("GET", "/api/v1/rotations?phase=weird", Some(admin), None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let hint = a.body["hint"].as_str().unwrap();
    assert!(hint.contains("planned") && hint.contains("retiring"), "{hint}");
}

/// The scheme's name is case-insensitive (RFC 9110 §11.1); another scheme is told that rekey
/// takes a Bearer token, not that none was sent.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_named() {
    let w = World::new().await;
    let with = |authorization: String| {
        Request::get("/api/v1/accounts").header("authorization", authorization).body(Body::empty()).unwrap()
    };
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let a = w.send(SocketAddr::from(SOURCE), with(format!("{scheme} {}", w.token("admin")))).await;
        assert_eq!(a.status, 200, "{scheme}: {}", a.body);
    }
    let a = w.send(SocketAddr::from(SOURCE), with("Basic dXNlcjpwYXNz".into())).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_error(&a, "unauthorized", "Basic");
    let message = a.body["message"].as_str().unwrap();
    assert!(message.contains("not a Bearer token"), "{message}");
    let a = w.call("GET", "/api/v1/accounts", None, None).await;
    assert_eq!(a.body["message"], "no API token", "no header at all");
}
