//! Engine tests of the previous key's retirement: confirmed cut-over (the evidence of
//! `GetAccessKeyLastUsed`, the deadline, rekey's own heartbeat not counted), `rollback` within
//! the grace before deletion, and incident rotations (no grace, no gate, one audit event).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use chrono::Duration;
use common::world;
use rekey_crypto::Secret;
use rekey_domain::{HeartbeatStatus, Outcome, PastDeadline, PreviousKeyPolicy, Retirement, RotationSettings};
use rekey_engine::{incident::TargetFilter, AccountRef};
use std::sync::Arc;

async fn confirmed(t: &common::World, past: PastDeadline) {
    t.settings(move |s| {
        s.retirement = Retirement::Confirmed;
        s.previous_key = PreviousKeyPolicy::Delete;
        s.cutover_deadline_ms = Some(3 * 86_400_000);
        s.cutover_past_deadline = past;
    })
    .await;
}

#[tokio::test]
async fn the_old_key_is_retired_only_once_the_new_one_is_used_and_the_old_one_is_not() {
    let t = world().await;
    confirmed(&t, PastDeadline::Wait).await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Retiring, "{r:?}");
    assert_eq!(r.waiting.as_deref(), Some("waiting for consumers: new key unused for 0 min"));
    let new = r.new_key_id.clone().unwrap();
    assert!(t.engine.recover().await.unwrap().is_empty(), "nothing to check before the next hour");
    // A consumer still on the old key, none on the new: wait.
    t.clock.advance(Duration::hours(2));
    t.aws.use_key(&t.old.0, "s3");
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.waiting.as_deref(), Some("waiting for consumers: new key unused for 2 h"), "{r:?}");
    // rekey's own heartbeat signs with the new key: not evidence.
    let fresh = t.engine.account(&AccountRef::Id(t.account.id.clone())).await.unwrap();
    assert_eq!(t.engine.heartbeat(&fresh).await.unwrap().status, HeartbeatStatus::Ok);
    t.clock.advance(Duration::hours(2));
    let r = t.engine.recover().await.unwrap().remove(0);
    assert!(r.waiting.as_deref().unwrap().contains("new key unused"), "{r:?}");
    // The new key is used; the old one was used 4 h ago, after the cut-over: still in use.
    t.aws.use_key(&new, "s3");
    t.clock.advance(Duration::hours(2));
    let r = t.engine.recover().await.unwrap().remove(0);
    assert!(r.waiting.as_deref().unwrap().contains("old key still used"), "{r:?}");
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), true), (new.clone(), true)]);
    // A day without the old key: the consumers moved.
    t.clock.advance(Duration::hours(24));
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    assert_eq!(t.aws.keys("svc"), vec![(new, true)]);
}

/// A confirmed cut-over whose consumers never moved, a day past its deadline and again two
/// hours later: the rotation's outcome then, and the world.
async fn past_the_deadline(past: PastDeadline, outcome: Outcome) -> common::World {
    let t = world().await;
    confirmed(&t, past).await;
    let id = t.rotate().await.rotation.unwrap();
    t.clock.advance(Duration::days(4));
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, outcome, "{past:?}: {r:?}");
    t.clock.advance(Duration::hours(2));
    let _ = t.engine.recover().await.unwrap();
    let audit = t.engine.audit_page(0, 10_000).await.unwrap();
    let stalled: Vec<_> = audit.iter().filter(|e| e.entry.action == "rotation.stalled").collect();
    assert_eq!(stalled.len(), 1, "{past:?}: told once");
    assert_eq!(stalled[0].entry.detail["rotation"], id.as_str());
    t
}

#[tokio::test]
async fn past_the_deadline_wait_keeps_waiting_and_the_owner_is_told_once() {
    let t = past_the_deadline(PastDeadline::Wait, Outcome::Retiring).await;
    let standing = t.engine.standings().await.unwrap();
    let (status, late) = &standing[t.account.id.as_str()];
    assert!(status.contains("new key unused for 4 d") && *late, "{status}");
}

#[tokio::test]
async fn past_the_deadline_proceed_retires_and_the_owner_is_told_once() {
    past_the_deadline(PastDeadline::Proceed, Outcome::Done).await;
}

#[tokio::test]
async fn rollback_within_the_grace_before_deletion_restores_the_old_key_for_good() {
    let t = world().await;
    t.settings(|s| {
        s.previous_key = PreviousKeyPolicy::Delete;
        s.deactivate_after_ms = 0;
        s.delete_after_ms = 7 * 86_400_000;
    })
    .await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Retiring);
    let new = r.new_key_id.unwrap();
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), false), (new.clone(), true)], "deactivated, kept for a week");
    t.engine.rollback(&AccountRef::Id(t.account.id.clone())).await.unwrap();
    assert_eq!(t.current().await.0, t.old.0, "the old key is current again");
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), true), (new.clone(), true)], "and active");
    t.clock.advance(Duration::days(8));
    assert!(t.engine.recover().await.unwrap().is_empty(), "the cancelled retirement does not come back");
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), true), (new, true)], "nothing deleted");
}

#[tokio::test]
async fn an_incident_target_filter_selects_by_target_kind() {
    let t = world().await;
    let account = t.engine.account(&AccountRef::Id(t.account.id.clone())).await.unwrap();
    let github = TargetFilter { kind: Some("github-actions".into()), contains: None };
    assert!(!github.matches(&account).unwrap(), "no GitHub target");
    assert!(TargetFilter::default().matches(&account).unwrap(), "no filter selects every account");
}

#[tokio::test]
async fn an_incident_deactivates_old_keys_at_once_and_is_audited_as_one_event() {
    let t = world().await;
    // Policies that would otherwise keep the old key for days.
    confirmed(&t, PastDeadline::Wait).await;
    t.settings(|s| {
        s.previous_key = PreviousKeyPolicy::Keep;
        s.deactivate_after_ms = 86_400_000;
        s.retire_only_if_unused = true;
    })
    .await;
    let account = t.engine.account(&AccountRef::Id(t.account.id.clone())).await.unwrap();
    let engine = Arc::new(t.engine);
    let incident = engine.rotate_incident(vec![account], Some("leaked in CI logs".into()), 4).await.unwrap();
    assert_eq!(incident.reports[0].outcome, Outcome::Done, "{:?}", incident.reports);
    let new = incident.reports[0].new_key_id.clone().unwrap();
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), false), (new, true)], "the old key is inactive now");
    let audit = engine.audit_page(0, 10_000).await.unwrap();
    let events: Vec<_> = audit.iter().filter(|e| e.entry.action == "incident.rotate").collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].entry.detail["incident"], incident.id.as_str());
    assert_eq!(events[0].entry.detail["reason"], "leaked in CI logs");
    assert_eq!(
        events[0].entry.detail["rotations"][0]["rotation"],
        incident.reports[0].rotation.clone().unwrap().as_str()
    );
    let rot = engine.rotation(incident.reports[0].rotation.as_deref().unwrap()).await.unwrap();
    assert_eq!(rot.data["incident"], incident.id.as_str(), "the rotation's journal names the incident");
}

/// A breached CI vendor: of twelve accounts, the six whose keys are delivered to one GitHub
/// organization's repositories are rotated together (four at once), each old key inactive at
/// once and each repository holding its account's new key; the six others are not touched.
#[tokio::test]
async fn an_incident_over_many_accounts_rotates_exactly_those_delivered_to_the_breached_target() {
    use rekey_domain::{targets::GithubTarget, CredentialKind, Target};
    use rekey_engine::{InitialKey, NewAccount};
    let t = world().await;
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(common::TOKEN, None), 0).unwrap();
    std::env::set_var("INCIDENT_TEST_GITHUB_TOKEN", common::TOKEN);
    let mut accounts = Vec::new();
    for i in 0..12 {
        let (user, owner) = (format!("ci-{i}"), if i % 2 == 0 { "acme" } else { "other" });
        t.aws.add_user(&user);
        let key = t.aws.add_key(&user);
        let new = NewAccount {
            provider: "p".parse().unwrap(),
            user: user.parse().unwrap(),
            kind: CredentialKind::AccessKey,
            folder: None,
            title: None,
            password: None,
            key: Some(InitialKey::Adopt { access_key_id: key.0.parse().unwrap(), secret: Secret::new(key.1) }),
        };
        let account = t.engine.add_account(new).await.unwrap();
        let target = Target::GithubActions(GithubTarget {
            api_url: gh.server.url.clone(),
            repository: Some(format!("{owner}/app-{i}")),
            environment: None,
            organization: None,
            visibility: None,
            key_id_name: "AWS_ACCESS_KEY_ID".into(),
            secret_name: "AWS_SECRET_ACCESS_KEY".into(),
            token_env: Some("INCIDENT_TEST_GITHUB_TOKEN".into()),
            token_file: None,
            timeout_ms: 5_000,
            format: None,
        });
        t.engine
            .set_account(&AccountRef::Id(account.id.clone()), Default::default(), move |s: &mut RotationSettings| {
                s.verify.successes = 1;
                s.verify.backoff_ms = 1;
                s.previous_key = PreviousKeyPolicy::Keep;
                s.deactivate_after_ms = 86_400_000;
                s.targets = vec![target];
            })
            .await
            .unwrap();
        accounts.push((user, key.0, t.engine.account(&AccountRef::Id(account.id.clone())).await.unwrap()));
    }
    let filter = TargetFilter { kind: Some("github-actions".into()), contains: Some("acme/".into()) };
    let mut selected = Vec::new();
    for (_, _, a) in &accounts {
        if filter.matches(a).unwrap() {
            selected.push(a.clone());
        }
    }
    assert_eq!(selected.len(), 6, "the accounts delivered to acme's repositories");
    let engine = Arc::new(t.engine);
    let incident = engine.rotate_incident(selected, Some("CI vendor breach".into()), 4).await.unwrap();
    assert_eq!(incident.reports.len(), 6);
    assert!(incident.reports.iter().all(|r| r.outcome == Outcome::Done), "{:?}", incident.reports);
    for (i, (user, old, account)) in accounts.iter().enumerate() {
        let keys = t.aws.keys(user);
        if i % 2 == 0 {
            let fresh = engine.account(&AccountRef::Id(account.id.clone())).await.unwrap();
            let new = fresh.current_key_id.clone().unwrap();
            assert_eq!(keys, vec![(old.clone(), false), (new.clone(), true)], "{user}: old inactive, new active");
            let (_, secret) = engine.reveal(&AccountRef::Id(account.id.clone())).await.unwrap();
            let repo = format!("acme/app-{i}");
            assert_eq!(gh.state.secret(&repo, "AWS_ACCESS_KEY_ID").unwrap().value, new);
            assert_eq!(gh.state.secret(&repo, "AWS_SECRET_ACCESS_KEY").unwrap().value, secret.expose());
        } else {
            assert_eq!(keys, vec![(old.clone(), true)], "{user} is not part of the incident");
            assert!(gh.state.secret(&format!("other/app-{i}"), "AWS_ACCESS_KEY_ID").is_none());
        }
    }
    let audit = engine.audit_page(0, 10_000).await.unwrap();
    let events: Vec<_> = audit.iter().filter(|e| e.entry.action == "incident.rotate").collect();
    assert_eq!(events.len(), 1, "one event ties the incident together");
    assert_eq!(events[0].entry.detail["rotations"].as_array().unwrap().len(), 6);
}
