//! `rekey policy` against IAM's size limits, through the model of real AWS with its quotas on
//! (6,144 characters per managed policy): for more users than a list of ARNs can hold, the
//! generated policy names them by their shared path, IAM accepts it, and its actions are
//! sufficient to rotate their keys; the ARN list is refused by IAM as rekey warned, and split into several
//! documents it is accepted.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::iam;
use serde_json::Value;

const TEAM: usize = 130;

#[test]
fn a_policy_for_many_users_fits_iam_and_is_sufficient() {
    let (moto, sb, seeded) = common::svc_world();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    iam::block_on(async {
        for i in 0..TEAM {
            let user = format!("team-user-{i:03}");
            admin.create_user().user_name(&user).path("/team/").send().await.unwrap();
            admin.create_access_key().user_name(&user).send().await.unwrap();
        }
        admin.create_user().user_name("rotator").send().await.unwrap();
    });
    let k = iam::block_on(admin.create_access_key().user_name("rotator").send()).unwrap().access_key.unwrap();
    let all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    iam::block_on(admin.put_user_policy().user_name("rotator").policy_name("bootstrap").policy_document(all).send())
        .unwrap();
    sb.add_provider(&moto, "lp", &(k.access_key_id, k.secret_access_key));
    sb.rekey().args(["discover", "lp", "--import", "--folder", "team", "--filter", "team-*"]).assert().success();

    let policy = |extra: &[&str]| {
        let out = sb.rekey().args(["policy", "--provider", "lp"]).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        (doc, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let create = |name: &str, doc: &Value| {
        iam::block_on(admin.create_policy().policy_name(name).policy_document(doc.to_string()).send())
            .map_err(|e| format!("{e:?}"))
    };

    // The ARNs do not fit: the users are named by their path, and IAM takes the document.
    let (scoped, warned) = policy(&[]);
    assert!(
        warned.contains(&format!("listing the {TEAM} managed users' ARNs")) && warned.contains("over the 6144"),
        "{warned}"
    );
    assert_eq!(scoped["Statement"][0]["Resource"], serde_json::json!(["arn:aws:iam::123456789012:user/team/*"]));
    create("rekey-scoped", &scoped).unwrap();

    // The list of ARNs is refused by IAM, as rekey warns; split, each document is accepted.
    let (listed, warned) = policy(&["--scope", "arns"]);
    assert!(warned.contains("over IAM's limit of 6144 for a managed policy"), "{warned}");
    let refused = create("rekey-listed", &listed).unwrap_err();
    assert!(refused.contains("LimitExceeded"), "{refused}");
    let (split, _) = policy(&["--scope", "arns", "--split"]);
    let split = split.as_array().unwrap();
    assert!(split.len() >= 2, "{} documents", split.len());
    for (i, doc) in split.iter().enumerate() {
        create(&format!("rekey-part-{i}"), doc).unwrap();
    }

    // With only the scoped policy's actions, rekey rotates a team user's key. (moto evaluates
    // IAM actions but not resource ARNs, so for it the resources are widened to `*`, as in
    // rotation.rs; the document IAM took above is the scoped one.)
    let mut for_moto = scoped.clone();
    for st in for_moto["Statement"].as_array_mut().unwrap() {
        st["Resource"] = "*".into();
    }
    let arn = create("rekey-scoped-moto", &for_moto).unwrap().policy.unwrap().arn.unwrap();
    iam::block_on(async {
        admin.attach_user_policy().user_name("rotator").policy_arn(&arn).send().await.unwrap();
        admin.delete_user_policy().user_name("rotator").policy_name("bootstrap").send().await.unwrap();
    });
    let account = "lp/team-user-007/access-key";
    sb.fast_verify(account).args(["--previous-key", "delete"]).assert().success();
    let reports = sb.json(&["rotate", account]);
    assert_eq!(reports[0]["outcome"], "done", "{reports}");
    assert_eq!(iam::keys_of(&admin, "team-user-007").len(), 1, "the imported key was replaced");
}
