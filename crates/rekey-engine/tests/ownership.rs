//! Key ownership against the IAM double: the tag a rotation writes (one `TagUser`, no
//! `UntagUser`), the keys it leaves alone and says so (another vault's, a later state's, even
//! when this vault's journal knows the rotation), `--reclaim-foreign`, legacy tags, and that
//! the dry-run plan decides as the rotation does.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{world, World};
use rekey_aws::{fake::Fault, AwsErrorClass, IamApi};
use rekey_domain::{Outcome, PreviousKeyPolicy};
use rekey_engine::RotateOptions;

const OTHER_VAULT: &str = "fedcba9876543210";

fn own_tag(t: &World) -> String {
    format!("rekey:{}/{}", t.engine.vault_id(), t.account.id)
}

async fn tags(t: &World) -> Vec<(String, String)> {
    let mut tags = t.aws.iam(None).list_user_tags("svc").await.unwrap();
    tags.sort();
    tags
}

async fn tag(t: &World, key: &str, value: &str) {
    t.aws.iam(None).tag_user("svc", &[(key.to_owned(), value.to_owned())]).await.unwrap();
}

fn key_ids(t: &World) -> Vec<String> {
    t.aws.keys("svc").into_iter().map(|k| k.0).collect()
}

/// A rotation of the account that aborts after creating its key (tagging is refused, after
/// the `creating` mark went through): a rotation this vault knows, finished, whose key is deleted.
async fn aborted_rotation(t: &World) -> String {
    t.aws.inject_after(1, Fault { op: "iam:TagUser", class: AwsErrorClass::Invalid, times: 1, lands: false });
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    r.rotation.unwrap()
}

#[tokio::test]
async fn a_rotation_marks_its_key_with_two_tag_users_and_retires_without_untag() {
    let t = world().await;
    t.settings(|_| {}).await;
    let mut previous = (t.old.0.clone(), "adopted".to_owned());
    for _ in 0..4 {
        let before = t.aws.calls().len();
        let r = t.rotate().await;
        assert_eq!(r.outcome, Outcome::Done, "{r:?}");
        let calls = t.aws.calls().split_off(before);
        let count = |op: &str| calls.iter().filter(|c| *c == op).count();
        // The `creating` mark before the create, then the tag naming the key.
        assert_eq!((count("iam:TagUser"), count("iam:UntagUser")), (2, 0), "{calls:?}");
        let create = calls.iter().position(|c| c == "iam:CreateAccessKey").unwrap();
        assert_eq!(calls.iter().position(|c| c == "iam:TagUser"), Some(create - 1), "marked just before: {calls:?}");
        // The tag names exactly the user's keys, newest first, each with what created it.
        let (new, rot) = (r.new_key_id.unwrap(), r.rotation.unwrap());
        assert_eq!(tags(&t).await, vec![(own_tag(&t), format!("{new}={rot}/{}={}", previous.0, previous.1))]);
        let mut ids = key_ids(&t);
        ids.sort();
        let mut want = vec![new.clone(), previous.0.clone()];
        want.sort();
        assert_eq!(ids, want, "the previous key is kept inactive (the default policy)");
        previous = (new, rot);
    }
}

#[tokio::test]
async fn a_tagged_key_stays_even_when_this_vaults_journal_of_its_rotation_shows_no_such_key() {
    // A vault restored from a backup taken during a rotation, which the restored vault then
    // finished differently (here: aborted): the key the tag names was stored by the other state.
    let t = world().await;
    t.settings(|_| {}).await;
    let rot = aborted_rotation(&t).await;
    let (kept, _) = t.aws.add_key("svc");
    tag(&t, &own_tag(&t), &format!("{kept}={rot}")).await;
    let before = t.aws.calls().len();
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    let error = r.error.unwrap();
    assert!(error.contains("created after this vault's last known state"), "{error}");
    assert!(key_ids(&t).contains(&kept), "the tagged key stays");
    // GetUser brought the tags: no ListUserTags, and the keys are listed once.
    let calls = t.aws.calls().split_off(before);
    assert!(!calls.contains(&"iam:ListUserTags".to_owned()), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "iam:ListAccessKeys").count(), 1, "{calls:?}");
    assert!(!calls.iter().any(|c| c == "iam:DeleteAccessKey" || c == "iam:CreateAccessKey"), "{calls:?}");
}

/// The user's second slot holds a key tagged `key = value`: the rotation and its plan refuse
/// alike, name why, and the key stays.
async fn refused_for(t: &World, key: &str, value: &str, why: &str) {
    let (foreign, _) = t.aws.add_key("svc");
    tag(t, key, &value.replace("KEY", &foreign)).await;
    let plan = t.engine.plan(&t.account, &RotateOptions::default()).await.unwrap();
    let r = t.rotate().await;
    assert_eq!((plan.outcome, r.outcome), (Outcome::Refused, Outcome::Aborted), "{plan:?} {r:?}");
    let error = r.error.clone().unwrap();
    assert!(error.contains(why) && error.contains(&foreign), "{error}");
    assert_eq!(plan.error.unwrap(), format!("refuse: {error}"), "the plan decides as the rotation does");
    assert_eq!(r.foreign_keys.len(), 1, "{r:?}");
    assert!(r.foreign_keys[0].starts_with(&format!("{foreign}: ")) && r.foreign_keys[0].contains(why), "{r:?}");
    assert_eq!(r.foreign_keys, plan.foreign_keys);
    assert!(key_ids(t).contains(&foreign), "the key is left alone");
    // The heartbeat reports it too.
    let hb = t.engine.heartbeat(&t.account).await.unwrap();
    assert!(hb.detail.to_string().contains(why), "{hb:?}");
}

#[tokio::test]
async fn another_vaults_key_is_foreign_and_never_deleted() {
    let t = world().await;
    t.settings(|_| {}).await;
    let tag_key = format!("rekey:{OTHER_VAULT}/ZZZZ0001");
    refused_for(&t, &tag_key, "KEY=rot_00000000000000ff", &format!("managed by another rekey vault {OTHER_VAULT}"))
        .await;
}

#[tokio::test]
async fn a_key_made_after_this_vaults_last_known_state_is_foreign() {
    let t = world().await;
    t.settings(|_| {}).await;
    let own = own_tag(&t);
    refused_for(&t, &own, "KEY=rot_00000000000000ff", "created after this vault's last known state").await;
}

#[tokio::test]
async fn a_legacy_tag_of_an_unknown_rotation_is_foreign() {
    let t = world().await;
    t.settings(|_| {}).await;
    let (foreign, _) = t.aws.add_key("svc");
    tag(&t, &foreign, "managed-by-rekey:rot_00000000000000ff").await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    let error = r.error.unwrap();
    assert!(error.contains("tagged managed-by-rekey by a rotation this vault does not know"), "{error}");
    assert!(key_ids(&t).contains(&foreign), "the foreign key stays");
}

#[tokio::test]
async fn a_legacy_tag_of_this_vault_is_carried_over_and_removed() {
    let t = world().await;
    t.settings(|_| {}).await;
    let rot = aborted_rotation(&t).await;
    // An earlier version tagged the account's key, and a key IAM no longer has (and wrote no
    // tag of this format: the one the aborted rotation's mark left goes).
    t.aws.iam(None).untag_user("svc", &[own_tag(&t)]).await.unwrap();
    tag(&t, &t.old.0, &format!("managed-by-rekey:{rot}")).await;
    tag(&t, "AKIAGONE000000000001", "managed-by-rekey:rot_0000000000000001").await;
    let before = t.aws.calls().len();
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let calls = t.aws.calls().split_off(before);
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!((count("iam:TagUser"), count("iam:UntagUser")), (2, 1), "one UntagUser, once: {calls:?}");
    let want = format!("{}={}/{}={rot}", r.new_key_id.unwrap(), r.rotation.unwrap(), t.old.0);
    assert_eq!(tags(&t).await, vec![(own_tag(&t), want)], "only the new tag is left");
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "the next rotation works with the carried-over tag: {r:?}");
}

#[tokio::test]
async fn reclaim_foreign_deletes_only_an_inactive_key() {
    let t = world().await;
    t.settings(|s| s.previous_key = PreviousKeyPolicy::Delete).await;
    let (foreign, _) = t.aws.add_key("svc");
    tag(&t, &format!("rekey:{OTHER_VAULT}/ZZZZ0001"), &format!("{foreign}=rot_00000000000000ff")).await;
    let reclaim = RotateOptions { reclaim_foreign: true, ..RotateOptions::default() };
    let r = t.engine.rotate(&t.account, &reclaim).await.unwrap();
    assert_eq!(r.outcome, Outcome::Aborted, "an active key is never reclaimed: {r:?}");
    t.aws.iam(None).update_access_key("svc", &foreign, false).await.unwrap();
    let r = t.engine.rotate(&t.account, &RotateOptions::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Aborted, "not without the flag: {r:?}");
    let r = t.engine.rotate(&t.account, &reclaim).await.unwrap();
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    assert!(!key_ids(&t).contains(&foreign), "the inactive foreign key is reclaimed");
}

/// An adoption whose `TagUser` failed after it landed (its answer lost) takes nothing and
/// leaves no tag: the taker removes the tag it may have written.
#[tokio::test]
async fn an_adoption_whose_tag_write_answer_was_lost_leaves_no_tag() {
    let t = world().await;
    t.aws.add_user("lost");
    let (key, secret) = t.aws.add_key("lost");
    t.aws.inject(Fault { op: "iam:TagUser", class: AwsErrorClass::Invalid, times: 1, lands: true });
    let new = rekey_engine::NewAccount {
        provider: "p".parse().unwrap(),
        user: "lost".parse().unwrap(),
        kind: rekey_domain::CredentialKind::AccessKey,
        folder: None,
        title: None,
        password: None,
        key: Some(rekey_engine::InitialKey::Adopt {
            access_key_id: key.parse().unwrap(),
            secret: rekey_crypto::Secret::new(secret),
        }),
    };
    let err = t.engine.add_account(new).await.unwrap_err();
    assert!(err.to_string().contains("injected fault"), "{err}");
    let tags = t.aws.iam(None).list_user_tags("lost").await.unwrap();
    let prefix = format!("rekey:{}/", t.engine.vault_id());
    assert!(!tags.iter().any(|(k, _)| k.starts_with(&prefix)), "no tag of this vault stays: {tags:?}");
    assert_eq!(t.engine.accounts(&Default::default()).await.unwrap().len(), 1, "nothing taken");
}

/// `account add --create` whose `creating` mark landed but lost its answer creates no key and
/// leaves no tag: a mark left there would keep every vault from taking the user's untagged keys.
#[tokio::test]
async fn a_create_whose_mark_answer_was_lost_leaves_no_tag_and_no_key() {
    let t = world().await;
    t.aws.add_user("marked");
    t.aws.inject(Fault { op: "iam:TagUser", class: AwsErrorClass::Invalid, times: 1, lands: true });
    let new = rekey_engine::NewAccount {
        provider: "p".parse().unwrap(),
        user: "marked".parse().unwrap(),
        kind: rekey_domain::CredentialKind::AccessKey,
        folder: None,
        title: None,
        password: None,
        key: Some(rekey_engine::InitialKey::Create { allow_no_free_slot: false }),
    };
    let err = t.engine.add_account(new).await.unwrap_err();
    assert!(err.to_string().contains("injected fault"), "{err}");
    let iam = t.aws.iam(None);
    let tags = iam.list_user_tags("marked").await.unwrap();
    let prefix = format!("rekey:{}/", t.engine.vault_id());
    assert!(!tags.iter().any(|(k, _)| k.starts_with(&prefix)), "no tag of this vault stays: {tags:?}");
    assert!(iam.list_access_keys("marked").await.unwrap().is_empty(), "no key was made");
    assert_eq!(t.engine.accounts(&Default::default()).await.unwrap().len(), 1, "nothing added");
}
