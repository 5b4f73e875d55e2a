//! Engine tests of the previous key's retirement: confirmed cut-over (the evidence of
//! `GetAccessKeyLastUsed`, the deadline, rekey's own heartbeat not counted), `rollback` within
//! the grace before deletion, and incident rotations (no grace, no gate, one audit event).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use chrono::Duration;
use common::world;
use rekey_domain::{PastDeadline, PreviousKeyPolicy, Retirement};
use rekey_engine::{incident::TargetFilter, AccountRef};
use std::sync::Arc;

async fn confirmed(t: &common::T, past: PastDeadline) {
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
    assert_eq!(r.outcome, "retiring", "{r:?}");
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
    assert_eq!(t.engine.heartbeat(&fresh).await.unwrap().status, "ok");
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
    assert_eq!(r.outcome, "done", "{r:?}");
    assert_eq!(t.aws.keys("svc"), vec![(new, true)]);
}

#[tokio::test]
async fn past_the_deadline_the_owner_is_told_once_and_the_setting_decides() {
    for (past, outcome) in [(PastDeadline::Wait, "retiring"), (PastDeadline::Proceed, "done")] {
        let t = world().await;
        confirmed(&t, past).await;
        let id = t.rotate().await.rotation.unwrap();
        t.clock.advance(Duration::days(4));
        let r = t.engine.recover().await.unwrap().remove(0);
        assert_eq!(r.outcome, outcome, "{past:?}: {r:?}");
        t.clock.advance(Duration::hours(2));
        let _ = t.engine.recover().await.unwrap();
        let audit = t.engine.store().audit_page(0, 10_000).await.unwrap();
        let stalled: Vec<_> = audit.iter().filter(|e| e.entry.action == "rotation.stalled").collect();
        assert_eq!(stalled.len(), 1, "{past:?}: told once");
        assert_eq!(stalled[0].entry.detail["rotation"], id.as_str());
        if past == PastDeadline::Wait {
            let standing = t.engine.standings().await.unwrap();
            let (status, late) = &standing[t.account.id.as_str()];
            assert!(status.contains("new key unused for 4 d") && *late, "{status}");
        }
    }
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
    assert_eq!(r.outcome, "retiring");
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
    let github = TargetFilter { kind: Some("github-actions".into()), contains: None };
    assert!(!github.matches(&account).unwrap(), "no GitHub target");
    assert!(TargetFilter::default().matches(&account).unwrap());
    let engine = Arc::new(t.engine);
    let incident = engine.rotate_incident(vec![account], Some("leaked in CI logs".into()), 4).await.unwrap();
    assert_eq!(incident.reports[0].outcome, "done", "{:?}", incident.reports);
    let new = incident.reports[0].new_key_id.clone().unwrap();
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), false), (new, true)], "the old key is inactive now");
    let audit = engine.store().audit_page(0, 10_000).await.unwrap();
    let events: Vec<_> = audit.iter().filter(|e| e.entry.action == "incident.rotate").collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].entry.detail["incident"], incident.id.as_str());
    assert_eq!(events[0].entry.detail["reason"], "leaked in CI logs");
    assert_eq!(
        events[0].entry.detail["rotations"][0]["rotation"],
        incident.reports[0].rotation.clone().unwrap().as_str()
    );
    let rot = engine.store().rotation(incident.reports[0].rotation.as_deref().unwrap()).await.unwrap();
    assert_eq!(rot.data["incident"], incident.id.as_str(), "the rotation's journal names the incident");
}
