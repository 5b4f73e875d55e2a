//! The rotation use case against the in-memory IAM/STS double and a manual clock: what moto
//! cannot show (ChangePassword, lost responses) and what needs time to pass (grace periods,
//! back-off of failing rotations), recovery of interrupted rotations, and the leases that keep
//! two workers off one account.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chrono::{Duration, TimeZone, Utc};
use rekey_aws::{
    fake::{FakeAws, Fault},
    AwsErrorClass,
};
use rekey_crypto::Secret;
use rekey_domain::{Clock, CredentialKind, ManualClock, Outcome, Phase, PreviousKeyPolicy};
use rekey_engine::{
    AccountRef, AuthSpec, Deps, Engine, FakeConnector, InitialKey, MasterKey, NewAccount, NewProvider, RotateOptions,
    TickOptions, TickReport,
};
use rekey_store::{Account, JournalWrite, OpenMode};
use std::sync::Arc;

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    aws: FakeAws,
    engine: Arc<Engine>,
    store: Arc<dyn rekey_store::Store>,
}

impl World {
    /// Makes `a` due: rotated daily, and the clock two days on.
    async fn due_now(&self, a: &Account) {
        self.engine
            .set_account(&AccountRef::Id(a.id.clone()), Default::default(), |s| s.every_ms = Some(86_400_000))
            .await
            .unwrap();
        self.clock.advance(Duration::days(2));
    }
}

async fn setup() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("v.db").display());
    let store = rekey_store::open(&url, OpenMode::Create).await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let aws = FakeAws::new(clock.clone());
    let deps = Deps {
        store: store.clone(),
        clock: clock.clone(),
        actor: "test".into(),
        aws: Arc::new(FakeConnector(aws.clone())),
    };
    let engine = Engine::init(deps, MasterKey::Passphrase(Secret::new("a long test passphrase"))).await.unwrap();
    World { _dir: dir, clock, aws, engine: Arc::new(engine), store }
}

async fn provider(t: &World, name: &str, key: &(String, String)) {
    let auth = AuthSpec::StaticKey { access_key_id: key.0.parse().unwrap(), secret: Secret::new(key.1.clone()) };
    let p = NewProvider { name: name.parse().unwrap(), region: "us-east-1".parse().unwrap(), endpoint_url: None, auth };
    t.engine.add_provider(p).await.unwrap();
}

async fn account(
    t: &World,
    user: &str,
    kind: CredentialKind,
    password: Option<&str>,
    key: Option<&(String, String)>,
) -> Account {
    let new = NewAccount {
        provider: "p".parse().unwrap(),
        user: user.parse().unwrap(),
        kind,
        folder: None,
        title: None,
        password: password.map(Secret::new),
        key: key.map(|k| InitialKey::Adopt { access_key_id: k.0.parse().unwrap(), secret: Secret::new(k.1.clone()) }),
    };
    let a = t.engine.add_account(new).await.unwrap();
    t.engine
        .set_account(&AccountRef::Id(a.id.clone()), Default::default(), |s| {
            s.verify.successes = 1;
            s.verify.backoff_ms = 1;
        })
        .await
        .unwrap()
}

async fn reveal(t: &World, a: &Account) -> String {
    t.engine.reveal(&AccountRef::Id(a.id.clone())).await.unwrap().1.expose().to_owned()
}

/// An administrator's key as the provider and an access-key account for user `svc` (whose
/// original key is returned too).
async fn access_key_world() -> (World, Account, (String, String)) {
    let t = setup().await;
    t.aws.add_user("admin");
    let admin = t.aws.add_key("admin");
    provider(&t, "p", &admin).await;
    t.aws.add_user("svc");
    let old = t.aws.add_key("svc");
    let a = account(&t, "svc", CredentialKind::AccessKey, None, Some(&old)).await;
    (t, a, old)
}

/// A user whose own key is the provider: it can only change its password with ChangePassword.
async fn self_password_world() -> (World, Account) {
    let t = setup().await;
    t.aws.add_user("ops");
    let key = t.aws.add_key("ops");
    t.aws.set_password("ops", "Old-Password-1!");
    provider(&t, "p", &key).await;
    let a = account(&t, "ops", CredentialKind::Password, Some("Old-Password-1!"), None).await;
    (t, a)
}

#[tokio::test]
async fn self_rotation_of_a_password_uses_change_password() {
    let (t, a) = self_password_world().await;
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let calls = t.aws.calls();
    assert!(calls.contains(&"iam:ChangePassword".to_string()), "{calls:?}");
    assert!(!calls.contains(&"iam:UpdateLoginProfile".to_string()));
    let vault = reveal(&t, &a).await;
    assert_ne!(vault, "Old-Password-1!");
    assert_eq!(t.aws.password("ops").as_deref(), Some(vault.as_str()));
}

/// IAM applies the change but the response never arrives: the next attempt (journaled first)
/// is refused, since IAM no longer holds the old password. Changing the new password to itself
/// would prove nothing (IAM may refuse to set the password it holds, as the double does), so
/// the evidence is a change from the new password to a fresh one, sealed first: it succeeds,
/// and IAM and the vault hold the fresh one. (Were the SDK to repeat the call by itself, nothing
/// would be journaled and the refusal would abort the rotation with IAM holding the new one.)
#[tokio::test]
async fn a_change_password_whose_response_was_lost_is_resolved_by_evidence() {
    let (t, a) = self_password_world().await;
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Retryable, times: 1, lands: true });
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    // Entered once, then journaled again before each of the three attempts and at the refusal.
    assert_eq!(r.phases.iter().filter(|p| *p == "update_requested").count(), 5, "each attempt journaled: {r:?}");
    let calls = t.aws.calls().iter().filter(|c| *c == "iam:ChangePassword").count();
    assert_eq!(calls, 3, "the lost attempt, the one that met the old password refused, the evidence");
    assert_iam_and_vault_agree(&t, &a, 3).await;
}

/// The password IAM holds, the vault's current one, and every other version retired.
async fn assert_iam_and_vault_agree(t: &World, a: &Account, current: i64) {
    let vault = reveal(t, a).await;
    assert_ne!(vault, "Old-Password-1!");
    assert_eq!(t.aws.password("ops").as_deref(), Some(vault.as_str()), "IAM and the vault agree");
    let versions = t.engine.secret_history(&AccountRef::Id(a.id.clone())).await.unwrap();
    let states: Vec<(i64, String)> = versions.iter().map(|v| (v.version, v.state.to_string())).collect();
    let expected: Vec<(i64, String)> =
        (1..=current).rev().map(|v| (v, if v == current { "current" } else { "retired" }.to_owned())).collect();
    assert_eq!(states, expected, "the password set is current, every other one retired");
}

/// The evidence's own answer is lost too: its repeat is refused (IAM now holds the fresh
/// password), so a second fresh password tests that one, and IAM and the vault agree.
#[tokio::test]
async fn a_change_password_whose_evidence_is_lost_too_is_resolved() {
    let (t, a) = self_password_world().await;
    // Lost (lands), refused (the fault's turn, but IAM answers), lost (lands).
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Retryable, times: 3, lands: true });
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let calls = t.aws.calls().iter().filter(|c| *c == "iam:ChangePassword").count();
    assert_eq!(calls, 5, "lost, refused, lost, refused, the second evidence");
    assert_iam_and_vault_agree(&t, &a, 4).await;
}

/// A run that ran out of attempts after a lost answer stops unfinished; recovery's attempt is
/// refused, and the evidence (from the journal alone) finishes it.
#[tokio::test]
async fn a_change_password_interrupted_after_a_lost_answer_is_finished_by_recovery() {
    let (t, a) = self_password_world().await;
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Retryable, times: 1, lands: true });
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Retryable, times: 3, lands: false });
    assert_eq!(t.engine.rotate(&a, &RotateOptions::default()).await.unwrap().outcome, Outcome::Interrupted);
    assert_eq!(reveal(&t, &a).await, "Old-Password-1!", "nothing committed yet");
    assert_ne!(t.aws.password("ops").as_deref(), Some("Old-Password-1!"), "though IAM holds the new password");
    assert_eq!(t.engine.recover().await.unwrap()[0].outcome, Outcome::Done);
    assert_iam_and_vault_agree(&t, &a, 3).await;
}

/// After a lost answer IAM refuses every change for a while (`LimitExceeded`): the run stops
/// unfinished with every password IAM may hold kept, and the next run tries them again — the
/// one IAM holds works, and IAM and the vault agree.
#[tokio::test]
async fn a_change_password_refused_after_a_lost_answer_is_tried_again_by_the_next_run() {
    let (t, a) = self_password_world().await;
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Retryable, times: 1, lands: true });
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Limit, times: 3, lands: false });
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Interrupted, "{r:?}");
    assert_eq!(reveal(&t, &a).await, "Old-Password-1!", "nothing committed");
    let held = t.aws.password("ops").unwrap();
    assert_ne!(held, "Old-Password-1!", "IAM holds the first new password");
    let versions = t.engine.secret_history(&AccountRef::Id(a.id.clone())).await.unwrap();
    let pending: Vec<i64> = versions.iter().filter(|v| v.state.to_string() == "pending").map(|v| v.version).collect();
    assert_eq!(pending, [3, 2], "every password IAM may hold is kept");
    assert_eq!(t.engine.recover().await.unwrap()[0].outcome, Outcome::Done);
    assert_iam_and_vault_agree(&t, &a, 3).await;
}

/// Someone changed the password outside rekey: the first attempt is refused, no change can
/// have landed, and the rotation aborts with the vault as it was.
#[tokio::test]
async fn a_change_password_refused_at_once_aborts_and_changes_nothing() {
    let (t, a) = self_password_world().await;
    t.aws.set_password("ops", "Changed-By-Someone-1!");
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    assert_eq!(reveal(&t, &a).await, "Old-Password-1!", "the vault keeps its password");
    assert_eq!(t.aws.password("ops").as_deref(), Some("Changed-By-Someone-1!"));
    let calls = t.aws.calls().iter().filter(|c| *c == "iam:ChangePassword").count();
    assert_eq!(calls, 1);
}

/// Every attempt of the run fails without landing: the rotation stays in `update_requested`,
/// and recovery finishes it.
#[tokio::test]
async fn a_change_password_that_never_landed_is_retried() {
    let (t, a) = self_password_world().await;
    t.aws.inject(Fault { op: "iam:ChangePassword", class: AwsErrorClass::Retryable, times: 4, lands: false });
    assert_eq!(t.engine.rotate(&a, &RotateOptions::default()).await.unwrap().outcome, Outcome::Interrupted);
    assert_eq!(reveal(&t, &a).await, "Old-Password-1!", "nothing committed yet");
    assert_eq!(t.engine.recover().await.unwrap()[0].outcome, Outcome::Done);
    let vault = reveal(&t, &a).await;
    assert_ne!(vault, "Old-Password-1!");
    assert_eq!(t.aws.password("ops").as_deref(), Some(vault.as_str()));
}

#[tokio::test]
async fn grace_periods_follow_the_clock() {
    let (t, a, old) = access_key_world().await;
    t.engine
        .set_account(&AccountRef::Id(a.id.clone()), Default::default(), |s| {
            s.previous_key = PreviousKeyPolicy::Delete;
            s.deactivate_after_ms = 3_600_000;
            s.delete_after_ms = 86_400_000;
        })
        .await
        .unwrap();
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Retiring);
    let new = r.new_key_id.clone().unwrap();
    assert_eq!(t.aws.keys("svc"), vec![(old.0.clone(), true), (new.clone(), true)], "both keys work during the grace");
    t.engine.recover().await.unwrap();
    assert!(t.aws.keys("svc").contains(&(old.0.clone(), true)), "nothing happens before the grace has passed");
    t.clock.advance(Duration::hours(2));
    assert_eq!(t.engine.recover().await.unwrap()[0].outcome, Outcome::Retiring);
    assert_eq!(t.aws.keys("svc"), vec![(old.0.clone(), false), (new.clone(), true)], "deactivated after an hour");
    t.clock.advance(Duration::days(1));
    assert_eq!(t.engine.recover().await.unwrap()[0].outcome, Outcome::Done);
    assert_eq!(t.aws.keys("svc"), vec![(new, true)], "deleted a day later");
}

#[tokio::test]
async fn self_rotation_of_an_access_key_switches_the_provider() {
    let t = setup().await;
    t.aws.add_user("svc");
    let key = t.aws.add_key("svc");
    provider(&t, "p", &key).await;
    let a = account(&t, "svc", CredentialKind::AccessKey, None, Some(&key)).await;
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let new = r.new_key_id.unwrap();
    assert_eq!(t.aws.keys("svc"), vec![(key.0.clone(), false), (new.clone(), true)]);
    // The provider now signs with the new key (the old one is inactive in IAM).
    let p = t.engine.provider(&"p".parse().unwrap()).await.unwrap();
    assert!(matches!(p.auth, rekey_store::ProviderAuth::StaticKey { ref access_key_id } if *access_key_id == new));
    let id = t.engine.test_provider(&"p".parse().unwrap()).await.unwrap();
    assert_eq!(id.arn, "arn:aws:iam::123456789012:user/svc");
}

#[tokio::test]
async fn a_transient_create_failure_is_resumed_by_recover() {
    let (t, a, _) = access_key_world().await;
    // The key is created but the response is lost, on every one of the engine's 4 attempts
    // (each sweeps the key the previous one left): recovery must delete the last orphan.
    t.aws.inject(Fault { op: "iam:CreateAccessKey", class: AwsErrorClass::Retryable, times: 4, lands: true });
    assert_eq!(t.engine.rotate(&a, &RotateOptions::default()).await.unwrap().outcome, Outcome::Interrupted);
    assert_eq!(t.aws.keys("svc").len(), 2, "an orphan key exists now");
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let current = t.engine.account(&AccountRef::Id(a.id.clone())).await.unwrap().current_key_id.unwrap();
    let keys: Vec<String> = t.aws.keys("svc").into_iter().filter(|k| k.1).map(|k| k.0).collect();
    assert_eq!(keys, vec![current], "the orphan was deleted; only the vault's key is active");
}

/// A resumed rotation's first CreateAccessKey answered LimitExceeded: an earlier attempt may have
/// landed a key the sweep did not see yet (ListAccessKeys lags), so the rotation keeps its phase
/// for the next recovery to sweep again instead of aborting with that key in IAM.
#[tokio::test]
async fn a_resumed_create_refused_for_the_limit_keeps_its_phase() {
    let (t, a, _) = access_key_world().await;
    t.aws.inject(Fault { op: "iam:CreateAccessKey", class: AwsErrorClass::Retryable, times: 4, lands: false });
    assert_eq!(t.engine.rotate(&a, &RotateOptions::default()).await.unwrap().outcome, Outcome::Interrupted);
    t.aws.clear_faults();
    t.aws.inject(Fault { op: "iam:CreateAccessKey", class: AwsErrorClass::Limit, times: 1, lands: false });
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!((r.outcome, r.phase.as_deref()), (Outcome::Interrupted, Some("create_requested")), "{r:?}");
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let current = t.engine.account(&AccountRef::Id(a.id.clone())).await.unwrap().current_key_id.unwrap();
    let active: Vec<String> = t.aws.keys("svc").into_iter().filter(|k| k.1).map(|k| k.0).collect();
    assert_eq!(active, vec![current]);
}

/// The sweep before a resumed CreateAccessKey deletes only keys made about when one of the
/// rotation's attempts was: a key a person (or another vault) made for the user a day later,
/// while the rotation waited in `create_requested`, is not this rotation's orphan and stays.
#[tokio::test]
async fn a_key_made_while_a_create_waited_is_not_swept() {
    let (t, a, (old, _)) = access_key_world().await;
    t.aws.inject(Fault { op: "iam:CreateAccessKey", class: AwsErrorClass::Retryable, times: 4, lands: false });
    assert_eq!(t.engine.rotate(&a, &RotateOptions::default()).await.unwrap().outcome, Outcome::Interrupted);
    t.aws.clear_faults();
    t.clock.advance(Duration::days(1));
    let (theirs, _) = t.aws.add_key("svc");
    // The user's two slots are full: the resumed create is refused. Its earlier attempts were a
    // day ago (a key of theirs would be listed by now): the refusal stands and the rotation ends.
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    assert!(t.engine.recover().await.unwrap().is_empty(), "nothing is left to resume");
    let keys: Vec<String> = t.aws.keys("svc").into_iter().map(|k| k.0).collect();
    assert_eq!(keys, vec![old.clone(), theirs], "the key made a day later is still there");
    let current = t.engine.account(&AccountRef::Id(a.id.clone())).await.unwrap().current_key_id;
    assert_eq!(current, Some(old), "the old key stays current");
}

/// Rewrites the phase of `a`'s open rotation, as a journal of an earlier version would hold it.
async fn set_open_phase(t: &World, a: &Account, phase: Phase) {
    let mut rot = t.store.rotations(Some(&a.id), true, 10).await.unwrap().remove(0);
    rot.phase = phase;
    t.store.write(&JournalWrite { at: t.clock.now(), rotation: Some(rot), ..Default::default() }).await.unwrap();
}

/// `planned`, a phase no longer written (recorded, nothing done), is resumed as `preflight`.
#[tokio::test]
async fn a_planned_rotation_is_resumed_as_preflight() {
    let (t, a, _) = access_key_world().await;
    t.aws.inject(Fault { op: "iam:GetUser", class: AwsErrorClass::Retryable, times: u32::MAX, lands: false });
    assert_eq!(t.engine.rotate(&a, &RotateOptions::default()).await.unwrap().outcome, Outcome::Interrupted);
    set_open_phase(&t, &a, Phase::Planned).await;
    t.aws.clear_faults();
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    assert_eq!(r.phases.iter().filter(|p| *p == "preflight").count(), 2, "resumed as preflight: {:?}", r.phases);
}

/// `tagged`, a phase no longer written (the new key is stored and tagged), is resumed as
/// `verifying`.
#[tokio::test]
async fn a_tagged_rotation_is_resumed_as_verifying() {
    let (t, a, old) = access_key_world().await;
    // The first TagUser (the `creating` mark before the create) goes through.
    t.aws.inject_after(1, Fault { op: "iam:TagUser", class: AwsErrorClass::Retryable, times: u32::MAX, lands: true });
    let r = t.engine.rotate(&a, &RotateOptions::default()).await.unwrap();
    assert_eq!((r.outcome, r.phase.as_deref()), (Outcome::Interrupted, Some("created")), "{r:?}");
    set_open_phase(&t, &a, Phase::Tagged).await;
    t.aws.clear_faults();
    let r = t.engine.recover().await.unwrap().remove(0);
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let expected =
        ["preflight", "create_requested", "created", "verifying", "committed", "retiring", "deactivated", "done"];
    assert_eq!(r.phases, expected, "resumed as verifying; no delivery target, so no delivering");
    let new = r.new_key_id.clone().unwrap();
    assert_eq!(t.aws.keys("svc"), vec![(old.0, false), (new.clone(), true)]);
    assert_eq!(t.engine.account(&AccountRef::Id(a.id.clone())).await.unwrap().current_key_id, Some(new));
}

#[tokio::test]
async fn preflight_reports_allowed_denied_and_mfa_required_actions() {
    let t = setup().await;
    t.aws.add_user("admin");
    let admin = t.aws.add_key("admin");
    provider(&t, "p", &admin).await;
    t.aws.add_user("svc");
    let key = t.aws.add_key("svc");
    account(&t, "svc", CredentialKind::AccessKey, None, Some(&key)).await;
    t.aws.set_decision("iam:CreateAccessKey", "implicitDeny", &[]);
    t.aws.set_decision("iam:UpdateLoginProfile", "implicitDeny", &["aws:MultiFactorAuthPresent"]);
    let verdicts = t.engine.preflight(&"p".parse().unwrap()).await.unwrap();
    let of = |a: &str| verdicts.iter().find(|v| v.action == a).unwrap_or_else(|| panic!("{a} simulated")).clone();
    assert_eq!(of("iam:GetUser").verdict, "allowed");
    assert_eq!(of("iam:CreateAccessKey").verdict, "denied");
    assert_eq!(of("iam:CreateAccessKey").denied_on, vec!["arn:aws:iam::123456789012:user/svc".to_string()]);
    assert_eq!(of("iam:UpdateLoginProfile").verdict, "mfa-required");
    assert!(verdicts.iter().all(|v| !v.action.starts_with("kms:")), "only what the accounts need");
}

#[tokio::test]
async fn preflight_on_an_endpoint_without_simulation_says_so() {
    let t = setup().await;
    t.aws.add_user("admin");
    let admin = t.aws.add_key("admin");
    provider(&t, "p", &admin).await;
    t.aws.inject(Fault { op: "iam:SimulatePrincipalPolicy", class: AwsErrorClass::Retryable, times: 1, lands: false });
    let err = t.engine.preflight(&"p".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("pre-flight unavailable on this endpoint"), "{err}");
}

/// A rotation of `a` interrupted after creating its key (tagging keeps failing); its id.
async fn interrupted_after_create(t: &World, a: &Account) -> String {
    // The first TagUser (the `creating` mark before the create) goes through.
    t.aws.inject_after(1, Fault { op: "iam:TagUser", class: AwsErrorClass::Retryable, times: 100, lands: false });
    let r = t.engine.rotate(a, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Interrupted);
    assert_eq!(t.aws.keys("svc").len(), 2, "the new key exists, untagged");
    r.rotation.unwrap()
}

#[tokio::test]
async fn an_operator_can_abandon_a_rotation_that_keeps_failing() {
    let (t, a, old) = access_key_world().await;
    let id = interrupted_after_create(&t, &a).await;
    let aborted = t.engine.abort_rotation(&id).await.unwrap();
    assert_eq!(aborted.outcome, Outcome::Aborted, "{aborted:?}");
    assert_eq!(t.aws.keys("svc"), vec![(old.0.clone(), true)], "the new key is deleted, the old one untouched");
    let now = t.engine.account(&AccountRef::Id(a.id.clone())).await.unwrap();
    assert_eq!(now.current_key_id.as_deref(), Some(old.0.as_str()));
    assert!(t.engine.recover().await.unwrap().is_empty(), "nothing left to recover");
}

#[tokio::test]
async fn a_finished_rotation_cannot_be_aborted() {
    let (t, a, _) = access_key_world().await;
    let id = interrupted_after_create(&t, &a).await;
    assert_eq!(t.engine.abort_rotation(&id).await.unwrap().outcome, Outcome::Aborted);
    let err = t.engine.abort_rotation(&id).await.unwrap_err();
    assert!(err.to_string().contains("cannot be aborted"), "{err}");
}

/// An account due (daily, two days late) whose keys IAM refuses to create until told
/// otherwise, after its first tick; that tick's report.
async fn due_and_failing() -> (World, TickReport) {
    let (t, a, _) = access_key_world().await;
    t.due_now(&a).await;
    t.aws.inject(Fault { op: "iam:CreateAccessKey", class: AwsErrorClass::Auth, times: 1_000, lands: false });
    let first = t.engine.tick(&TickOptions::default()).await.unwrap();
    (t, first)
}

fn creates(t: &World) -> usize {
    t.aws.calls().iter().filter(|c| *c == "iam:CreateAccessKey").count()
}

#[tokio::test]
async fn a_failed_due_rotation_waits_a_minute_before_the_next_attempt() {
    let (t, first) = due_and_failing().await;
    assert_eq!(first.rotations.len(), 1);
    assert_eq!(first.rotations[0].outcome, Outcome::Aborted, "{:?}", first.rotations[0]);
    let tried = creates(&t);
    assert!(tried >= 1);
    // Right after a failure the account is due but waits (1 minute after one failure).
    let again = t.engine.tick(&TickOptions::default()).await.unwrap();
    assert!(again.rotations.is_empty(), "{:?}", again.rotations);
    assert_eq!(again.backed_off, 1);
    assert_eq!(creates(&t), tried, "no call to IAM while waiting");
}

#[tokio::test]
async fn a_second_failure_doubles_the_wait() {
    let (t, _) = due_and_failing().await;
    let opts = TickOptions::default();
    // After the wait it is attempted again; after a second failure the wait doubles.
    t.clock.advance(Duration::seconds(61));
    let second = t.engine.tick(&opts).await.unwrap();
    assert_eq!(second.rotations.len(), 1);
    assert_eq!(second.rotations[0].outcome, Outcome::Aborted);
    t.clock.advance(Duration::seconds(61));
    assert_eq!(t.engine.tick(&opts).await.unwrap().backed_off, 1, "two failures wait 2 minutes");
    t.clock.advance(Duration::seconds(60));
    assert_eq!(t.engine.tick(&opts).await.unwrap().rotations.len(), 1, "attempted after 2 minutes");
}

#[tokio::test]
async fn once_iam_works_again_a_failing_due_rotation_succeeds_and_is_no_longer_due() {
    let (t, _) = due_and_failing().await;
    let opts = TickOptions::default();
    t.aws.clear_faults();
    t.clock.advance(Duration::minutes(5));
    let fixed = t.engine.tick(&opts).await.unwrap();
    assert_eq!(fixed.rotations.len(), 1);
    assert!(fixed.rotations[0].outcome.committed(), "{:?}", fixed.rotations[0]);
    let after = t.engine.tick(&opts).await.unwrap();
    assert!(after.rotations.is_empty() && after.backed_off == 0);
}

#[test]
fn the_wait_after_failures_doubles_up_to_an_hour() {
    assert_eq!(rekey_engine::retry_wait(1), Duration::minutes(1));
    assert_eq!(rekey_engine::retry_wait(3), Duration::minutes(4));
    assert_eq!(rekey_engine::retry_wait(40), Duration::hours(1), "capped");
}

/// Repro: three requests to rotate one account in one process (a scheduler tick, an API
/// request, a console click in one `rekey serve`) all "held" the lease, because its owner was the
/// process; two of them then failed with "lost its lease" although nothing was lost. Now the
/// lease names the worker: the rotation under way finishes, the others are refused at once
/// with an answer that names it, and nothing is fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_of_one_process_never_work_one_account_together() {
    let (t, a, _) = access_key_world().await;
    // Verification takes three consecutive successes a second apart: long enough to overlap.
    t.engine
        .set_account(&AccountRef::Id(a.id.clone()), Default::default(), |s| {
            s.verify.successes = 3;
            s.verify.backoff_ms = 1_000;
        })
        .await
        .unwrap();
    let engine = t.engine.clone();
    let first = {
        let (engine, a) = (engine.clone(), a.clone());
        tokio::spawn(async move { engine.rotate(&a, &RotateOptions::default()).await })
    };
    // Once the first rotation is journaled, two more tasks ask for the same account.
    let running = loop {
        if let Some(r) = t.store.rotations(Some(&a.id), true, 1).await.unwrap().pop() {
            break r.id;
        }
        tokio::task::yield_now().await;
    };
    let others: Vec<_> = (0..2)
        .map(|_| {
            let (engine, a) = (engine.clone(), a.clone());
            tokio::spawn(async move { engine.rotate(&a, &RotateOptions::default()).await })
        })
        .collect();
    for other in others {
        match other.await.unwrap() {
            Err(rekey_engine::Error::Busy { what, rotation, .. }) => {
                assert_eq!(rotation.as_deref(), Some(running.as_str()), "{what}");
                assert!(what.contains(&running) && what.contains("another task of this process"), "{what}");
            }
            other => panic!("a second task must be refused while the rotation is under way: {other:?}"),
        }
    }
    let done = first.await.unwrap().unwrap();
    assert_eq!((done.outcome, done.rotation.as_deref()), (Outcome::Done, Some(running.as_str())), "{done:?}");
    assert_eq!(t.store.rotations(Some(&a.id), false, 10).await.unwrap().len(), 1, "one rotation ran");
}

#[tokio::test]
async fn a_scheduled_rotation_of_an_account_rotated_since_the_due_list_was_read_is_skipped() {
    let (t, a, _) = access_key_world().await;
    t.due_now(&a).await;
    let listed = t.store.due_accounts(t.clock.now(), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    // Another worker rotates it after the list was read ...
    let r = t.engine.rotate(&a, &RotateOptions { scheduled: true, ..Default::default() }).await.unwrap();
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    // ... so the stale entry is not rotated again in this period.
    let calls = t.aws.calls().len();
    let again = t.engine.rotate(&listed[0], &RotateOptions { scheduled: true, ..Default::default() }).await.unwrap();
    assert_eq!(again.outcome, Outcome::Skipped, "{again:?}");
    assert_eq!(t.store.rotations(Some(&a.id), false, 10).await.unwrap().len(), 1, "rotated once");
    assert_eq!(t.aws.calls().len(), calls, "no IAM call for an account that is not due");
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_makes_no_side_effect() {
    let (t, a, _) = access_key_world().await;
    let held = t.engine.lease(&a.id).await.unwrap();
    held.ensure("CreateAccessKey").await.expect("the holder may call IAM");
    // Another worker takes the lease over (it found the holder's process gone).
    let taken = t.store.acquire_lease(&a.id, "other-host:1:1#1", 60_000, Some(&held.owner)).await.unwrap();
    assert!(matches!(taken, rekey_store::LeaseOutcome::TakenOver { .. }), "{taken:?}");
    let e = held.ensure("CreateAccessKey").await.unwrap_err();
    assert!(e.to_string().contains("stopped before CreateAccessKey"), "{e}");
    let called = std::sync::atomic::AtomicBool::new(false);
    let acted = held.act("DeleteAccessKey", async { called.store(true, std::sync::atomic::Ordering::SeqCst) }).await;
    assert!(acted.is_err() && !called.load(std::sync::atomic::Ordering::SeqCst), "no call after the lease was lost");
}

/// A side effect still running when the lease it was made under is found lost (here: taken
/// over; in a partition: renewals failing until the lease's sure time, less a margin, is up)
/// is abandoned: its future is dropped, and the worker is told the outcome is unknown.
#[tokio::test]
async fn a_call_that_outlasts_its_lease_is_abandoned() {
    let (t, a, _) = access_key_world().await;
    let short = rekey_engine::lease::LeaseSettings { ttl_ms: 600, ..Default::default() };
    let engine = t.engine.acting_as("test").with_leases(short);
    let held = engine.lease(&a.id).await.unwrap();
    let started = tokio::sync::Notify::new();
    let call = held.act("CreateAccessKey", async {
        started.notify_one();
        std::future::pending::<()>().await
    });
    let thief = async {
        started.notified().await;
        t.store.acquire_lease(&a.id, "other-host:1:1#1", 60_000, Some(&held.owner)).await.unwrap()
    };
    let (acted, taken) = tokio::join!(call, thief);
    assert!(matches!(taken, rekey_store::LeaseOutcome::TakenOver { .. }), "{taken:?}");
    let e = acted.unwrap_err();
    assert!(e.to_string().contains("stopped during CreateAccessKey") && e.to_string().contains("unknown"), "{e}");
    assert!(rekey_engine::stats::abandoned() >= 1, "counted");
}

/// The lease's expiry is the database's time: a holder's fake clock moving on expires nothing.
#[tokio::test]
async fn a_lease_expires_by_the_database_clock_not_the_workers() {
    let (t, a, _) = access_key_world().await;
    let held = t.engine.lease(&a.id).await.unwrap();
    t.clock.advance(Duration::hours(2));
    let other = t.store.acquire_lease(&a.id, "other-host:1:1#1", 60_000, None).await.unwrap();
    assert!(matches!(other, rekey_store::LeaseOutcome::Held { .. }), "a live lease is not taken over: {other:?}");
    held.ensure("CreateAccessKey").await.expect("still held");
}

/// Waits until `account`'s lease has expired by the database's clock.
async fn until_expired(t: &World, account: &rekey_domain::AccountId) {
    for _ in 0..3_000 {
        if t.store.lease_state(account).await.unwrap().is_none_or(|s| s.left_ms <= 0) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the lease never expired");
}

#[tokio::test]
async fn a_lease_about_to_expire_is_renewed_before_a_side_effect() {
    let (t, _, _) = access_key_world().await;
    let own = t.engine.lease(&rekey_domain::AccountId::random()).await.unwrap();
    // Renewed for a moment only: the next side effect must renew it first.
    assert!(t.store.renew_lease(&own.fence, 1_000).await.unwrap());
    let before = t.store.lease_state(&own.fence.account_id).await.unwrap().unwrap();
    assert!(before.left_ms <= 1_000, "{before:?}");
    own.ensure("TagUser").await.expect("renewed");
    let after = t.store.lease_state(&own.fence.account_id).await.unwrap().unwrap();
    let ttl = t.engine.lease_settings().ttl_ms;
    assert!(after.expires_at > before.expires_at && after.left_ms > ttl / 2, "renewed for a whole lease: {after:?}");
}

#[tokio::test]
async fn a_takeover_is_counted() {
    let (t, a, _) = access_key_world().await;
    // Another node's worker holds the lease ...
    let ttl = t.engine.lease_settings().ttl_ms;
    let taken = t.store.acquire_lease(&a.id, "other-host:1:1#1", ttl, None).await.unwrap();
    let rekey_store::LeaseOutcome::Acquired(theirs) = taken else { panic!("{taken:?}") };
    assert!(matches!(t.engine.lease(&a.id).await, Err(rekey_engine::Error::Busy { .. })), "held by a live worker");
    // ... renews it one last time, for a moment, and stops.
    assert!(t.store.renew_lease(&theirs, 50).await.unwrap());
    until_expired(&t, &a.id).await;
    let (before, _) = rekey_engine::stats::takeovers();
    let held = t.engine.lease(&a.id).await.expect("taken over once it expired");
    let (after, failovers) = rekey_engine::stats::takeovers();
    assert!(after > before && failovers.count >= 1, "the takeover is counted");
    let workers = t.engine.workers();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!((workers[0].account.clone(), workers[0].owner.as_str()), (a.id.clone(), held.owner.as_str()));
}

/// A worker whose task is cancelled mid-way (dropped, never released) frees its lease.
#[tokio::test]
async fn a_dropped_worker_frees_its_lease() {
    let (t, a, _) = access_key_world().await;
    let held = t.engine.lease(&a.id).await.unwrap();
    assert_eq!(t.engine.workers().len(), 1);
    drop(held);
    assert!(t.engine.workers().is_empty());
    for _ in 0..3_000 {
        if t.store.lease_state(&a.id).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(t.store.lease_state(&a.id).await.unwrap(), None, "released in the background");
    t.engine.lease(&a.id).await.expect("free again").release().await;
}

#[tokio::test]
async fn a_vault_keeps_the_identity_drawn_at_init() {
    let t = setup().await;
    let id = t.engine.vault_id().clone();
    let deps = || Deps {
        store: t.store.clone(),
        clock: t.clock.clone(),
        actor: "test".into(),
        aws: Arc::new(FakeConnector(t.aws.clone())),
    };
    let pass = || MasterKey::Passphrase(Secret::new("a long test passphrase"));
    let unlocked = Engine::unlock(deps(), pass()).await.unwrap();
    assert_eq!(unlocked.vault_id(), &id, "the header keeps the identity");
    let again = Engine::init(deps(), pass()).await.unwrap_err();
    assert!(again.to_string().contains(id.as_str()), "a second init names the vault there: {again}");
    let other = setup().await;
    assert_ne!(other.engine.vault_id(), &id, "each vault draws its own");
}
