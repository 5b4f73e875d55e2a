//! End-to-end tests of confirmed cut-over and incident mode through the real binary, on moto
//! (which records every signed request as the key's last use, as IAM does).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, SVC_KEY};

fn key_states(moto: &common::Moto, seeded: &iam::Seeded) -> Vec<(String, bool)> {
    let admin = iam::client_with(moto, &seeded.admin.0, &seeded.admin.1);
    iam::keys_of(&admin, "svc")
}

#[test]
fn confirmed_cut_over_waits_until_the_new_key_is_used() {
    let (moto, sb, seeded) = common::svc_world();
    sb.fast_verify(SVC_KEY)
        .args(["--retirement", "confirmed", "--cutover-deadline", "7d", "--previous-key", "delete"])
        .assert()
        .success();
    let r = &sb.json(&["rotate", SVC_KEY])[0];
    assert_eq!(r["outcome"], "retiring", "{r}");
    assert!(r["waiting"].as_str().unwrap().starts_with("waiting for consumers: new key unused for"), "{r}");
    let new = r["new_key_id"].as_str().unwrap().to_owned();
    let shown = sb.json(&["rotation", "show", r["rotation"].as_str().unwrap()]);
    assert!(shown["data"]["cutover_status"].as_str().unwrap().contains("new key unused"));
    // Every time in the journal's data is RFC 3339 in UTC with milliseconds, as everywhere else.
    let data = shown["data"].as_object().unwrap();
    let times: Vec<(&String, &str)> =
        data.iter().filter(|(k, _)| k.ends_with("_at")).filter_map(|(k, v)| v.as_str().map(|t| (k, t))).collect();
    assert!(times.len() >= 3, "create_requested_at, created_at, cutover_at …: {data:?}");
    for (k, t) in times {
        let parsed = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        assert_eq!(t, parsed.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "{k}");
    }
    assert_eq!(key_states(&moto, &seeded).len(), 2, "both keys stay while the consumers have not moved");
    // The compliance report says where the account stands, in JSON and in HTML.
    let html = sb.path("report.html");
    sb.rekey().args(["report", "--format", "html", "--out"]).arg(&html).output().unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("<th>standing</th>") && html.contains("<td>waiting for consumers: new key unused"), "{html}");
    let out = sb.rekey().args(["report", "-o", "json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = report["rows"].as_array().unwrap().iter().find(|r| r["key_id"] == new.as_str()).cloned();
    assert!(row.is_some_and(|r| r["standing"].as_str().unwrap_or("").starts_with("waiting for consumers")), "{report}");
    // A consumer signs with the new key (GetUser) until IAM records a use after the cut-over
    // (IAM's last-use dates may be coarser than the cut-over's time); rotating again checks the
    // evidence first.
    let cut = chrono::DateTime::parse_from_rfc3339(shown["data"]["cutover_at"].as_str().unwrap()).unwrap();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let last_use = || {
        let out = iam::block_on(admin.get_access_key_last_used().access_key_id(&new).send()).unwrap();
        out.access_key_last_used.and_then(|u| u.last_used_date).map_or(0, |d| d.secs())
    };
    for _ in 0..100 {
        common::svc_key_works(&moto, &sb);
        if last_use() > cut.timestamp() {
            break;
        }
    }
    assert!(last_use() > cut.timestamp(), "IAM records the consumer's use");
    let again = &sb.json(&["rotate", SVC_KEY])[0];
    let states = key_states(&moto, &seeded);
    assert!(!states.iter().any(|(id, _)| id == &seeded.svc.0), "the old key was retired: {states:?} {again}");
    assert!(states.contains(&(new, true)), "{states:?}");
}

#[test]
fn an_incident_rotates_every_key_delivered_to_a_github_organization_at_once() {
    let (moto, sb, seeded) = common::svc_world();
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new("incident-token", None), 0).unwrap();
    std::fs::write(sb.path("gh.token"), "incident-token").unwrap();
    let token = sb.path("gh.token").display().to_string();
    sb.fast_verify(SVC_KEY)
        .args(["--previous-key", "keep", "--deactivate-after", "30d"])
        .args(["--github-org", "acme", "--github-api-url", &gh.server.url, "--github-token-file", &token])
        .assert()
        .success();
    // Nothing matches: nothing happens.
    sb.rekey().args(["incident", "--target", "org other", "--yes"]).assert().code(3);
    // Without a terminal and without --yes: the plan, then a refusal.
    let out = sb.rekey().args(["incident", "--target", "org acme"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(SVC_KEY), "the plan names the account");
    assert_eq!(key_states(&moto, &seeded), vec![(seeded.svc.0.clone(), true)]);
    let out = sb
        .rekey()
        .args([
            "incident",
            "--target-kind",
            "github-actions",
            "--target",
            "org acme",
            "--yes",
            "--reason",
            "CI vendor breach",
        ])
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports[0]["outcome"], "done", "{reports}");
    let (key_id, secret) = common::svc_key_works(&moto, &sb);
    assert_eq!(gh.state.secret("org:acme", "AWS_SECRET_ACCESS_KEY").unwrap().value, secret);
    let states = key_states(&moto, &seeded);
    assert!(states.contains(&(seeded.svc.0.clone(), false)), "the leaked key is inactive at once: {states:?}");
    assert!(states.contains(&(key_id, true)));
    let audit = sb.json(&["audit", "list"]);
    let events: Vec<_> = audit.as_array().unwrap().iter().filter(|e| e["action"] == "incident.rotate").collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["reason"], "CI vendor breach");
    assert_eq!(events[0]["detail"]["rotations"][0]["rotation"], reports[0]["rotation"]);
}
