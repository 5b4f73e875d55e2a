//! Rotation behaviour end to end (real binary, moto with authentication on): one lease per
//! account across processes, parallel rotations, rollback, the scheduler's entry point, and a
//! scan proving no secret reaches output, logs, the audit log or the vault file in the clear.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{contains, iam, vault_bytes, Moto, Sandbox};

fn world() -> (Moto, Sandbox, iam::Seeded) {
    let (moto, sb, seeded) = common::svc_world();
    fast(&sb, "p/svc/access-key", &[]);
    (moto, sb, seeded)
}

fn fast(sb: &Sandbox, account: &str, extra: &[&str]) {
    sb.rekey()
        .args([
            "account",
            "set",
            account,
            "--verify-successes",
            "1",
            "--verify-backoff",
            "50ms",
            "--verify-deadline",
            "20s",
        ])
        .args(extra)
        .assert()
        .success();
}

fn current_key(sb: &Sandbox, account: &str) -> (String, String) {
    let v = sb.json(&["account", "reveal", account]);
    (v["access_key_id"].as_str().unwrap().to_owned(), v["secret"].as_str().unwrap().to_owned())
}

fn iam_keys(moto: &Moto, admin: &(String, String), user: &str) -> Vec<(String, bool)> {
    iam::keys_of(&iam::client_with(moto, &admin.0, &admin.1), user)
}

/// Sets the account's lease as another live process (on another host) would hold it.
fn hold_lease(sb: &Sandbox, account: &str, expires_in_ms: i64) {
    let url = format!("sqlite://{}", sb.vault_file().display());
    let id = sb.json(&["account", "show", account])["id"].as_str().unwrap().to_owned();
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let now: i64 =
            sqlx::query_scalar("SELECT CAST(strftime('%s','now') AS INTEGER) * 1000").fetch_one(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO leases (account_id, owner, token, expires_at) VALUES ($1, 'other-host:4242:1', 7, $2) \
             ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
        )
        .bind(&id)
        .bind(now + expires_in_ms)
        .execute(&pool)
        .await
        .unwrap();
    });
}

#[test]
fn a_rotation_is_refused_while_another_process_holds_the_lease() {
    let (moto, sb, seeded) = world();
    fast(&sb, "p/svc/access-key", &["--previous-key", "delete"]);
    hold_lease(&sb, "p/svc/access-key", 600_000);
    // Busy: a conflict (exit 4), as for every command refused because another worker holds the account.
    let out =
        sb.rekey().args(["rotate", "p/svc/access-key", "-o", "json"]).assert().code(4).get_output().stdout.clone();
    let reports: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(reports[0]["outcome"], "refused");
    assert!(reports[0]["error"].as_str().unwrap().contains("being worked by another rekey worker"), "{reports}");
    assert_eq!(current_key(&sb, "p/svc/access-key").0, seeded.svc.0, "nothing was rotated");
    // Once the other holder's lease has expired, the account can be rotated again.
    hold_lease(&sb, "p/svc/access-key", -1);
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let (key, _) = current_key(&sb, "p/svc/access-key");
    assert_ne!(key, seeded.svc.0);
    let ids: Vec<String> = iam_keys(&moto, &seeded.admin, "svc").into_iter().map(|k| k.0).collect();
    assert_eq!(ids, vec![key], "exactly one rotation happened and retired the old key");
}

#[test]
fn concurrent_rotations_of_many_accounts() {
    let (moto, sb, seeded) = world();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    for i in 0..6 {
        let user = format!("bulk{i}");
        iam::block_on(admin.create_user().user_name(&user).send()).unwrap();
        sb.rekey()
            .args([
                "account",
                "add",
                "--provider",
                "p",
                "--user",
                &user,
                "--kind",
                "access-key",
                "--create",
                "--folder",
                "bulk",
            ])
            .assert()
            .success();
        fast(&sb, &format!("p/{user}/access-key"), &["--previous-key", "delete"]);
    }
    let reports = sb.json(&["rotate", "--folder", "bulk", "--concurrency", "3"]);
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 6);
    for r in reports {
        assert_eq!(r["outcome"], "done", "{r}");
        let user = r["ref"].as_str().unwrap().split('/').nth(1).unwrap().to_owned();
        let (key, _) = current_key(&sb, r["ref"].as_str().unwrap());
        let ids: Vec<String> = iam_keys(&moto, &seeded.admin, &user).into_iter().map(|k| k.0).collect();
        assert_eq!(ids, vec![key]);
    }
    let figures = common::invariants::check(&moto, &seeded.admin, &[&sb]);
    assert_eq!((figures.credentials, figures.rotations), (7, 6), "{figures:?}");
}

#[test]
fn rollback_restores_the_previous_key() {
    let (moto, sb, seeded) = world();
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let (new_key, _) = current_key(&sb, "p/svc/access-key");
    let keys = iam_keys(&moto, &seeded.admin, "svc");
    assert!(keys.contains(&(seeded.svc.0.clone(), false)), "policy deactivate: the old key is inactive: {keys:?}");
    sb.rekey().args(["rollback", "p/svc/access-key"]).assert().success();
    let (key, secret) = current_key(&sb, "p/svc/access-key");
    assert_eq!(key, seeded.svc.0);
    iam::block_on(iam::client_with(&moto, &key, &secret).get_user().send()).expect("the restored key works");
    let keys = iam_keys(&moto, &seeded.admin, "svc");
    assert!(keys.contains(&(seeded.svc.0.clone(), true)) && keys.contains(&(new_key, true)), "{keys:?}");
}

#[test]
fn run_due_rotates_what_is_due_and_nothing_else() {
    let (moto, sb, seeded) = world();
    iam::block_on(iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1).create_user().user_name("idle").send())
        .unwrap();
    sb.rekey()
        .args(["account", "add", "--provider", "p", "--user", "idle", "--kind", "access-key", "--create"])
        .assert()
        .success();
    let (idle_before, _) = current_key(&sb, "p/idle/access-key");
    fast(&sb, "p/svc/access-key", &["--every", "90d", "--previous-key", "delete"]);
    // The plan speaks in human durations ("within 20 s", "at once"), never in milliseconds.
    let plan = sb.json(&["rotate", "p/svc/access-key", "--dry-run"])[0]["plan"].to_string();
    assert!(plan.contains("successes within 20 s") && !plan.contains(" ms"), "{plan}");
    sb.rekey().args(["run-due", "--once"]).assert().success();
    assert_eq!(current_key(&sb, "p/svc/access-key").0, seeded.svc.0, "not due yet: nothing rotated");
    sb.rekey().args(["account", "due", "p/svc/access-key"]).assert().success();
    let audit = sb.json(&["audit", "list"]);
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "account.due"), "marking due is audited");
    sb.rekey().args(["run-due", "--once"]).assert().success();
    let (svc_key, _) = current_key(&sb, "p/svc/access-key");
    assert_ne!(svc_key, seeded.svc.0, "the due account was rotated");
    assert_eq!(current_key(&sb, "p/idle/access-key").0, idle_before, "an account without a schedule was not");
    let shown = sb.json(&["account", "show", "p/svc/access-key"]);
    assert_eq!(shown["heartbeat"]["status"], "ok", "run-due also ran the heartbeat");
    let at = |field: &str| chrono::DateTime::parse_from_rfc3339(shown[field].as_str().unwrap()).unwrap();
    let interval = at("next_due_at") - at("last_rotated_at");
    assert_eq!(interval.num_days(), 90, "due again one interval after the rotation: {shown}");
}

#[test]
fn heartbeat_reports_a_deleted_key() {
    let (moto, sb, seeded) = world();
    sb.rekey().args(["heartbeat", "p/svc/access-key"]).assert().success();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    iam::block_on(admin.delete_access_key().user_name("svc").access_key_id(&seeded.svc.0).send()).unwrap();
    let out =
        sb.rekey().args(["heartbeat", "p/svc/access-key", "-o", "json"]).assert().code(9).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["status"], "failed");
    assert!(v[0]["findings"].to_string().contains("missing in IAM"), "{v}");
}

#[test]
fn no_secret_reaches_output_logs_audit_or_the_vault_file() {
    let (moto, sb, seeded) = world();
    iam::block_on(
        iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1)
            .create_login_profile()
            .user_name("alice")
            .password("Alice-Pw-2!")
            .send(),
    )
    .ok();
    sb.adopt_password("p", "alice", "Alice-Initial-1!");
    let mut transcript = Vec::new();
    let mut run = |args: &[&str]| {
        let out = sb.rekey().args(args).env("REKEY_LOG", "trace").output().unwrap();
        transcript.extend(out.stdout);
        transcript.extend(out.stderr);
    };
    run(&["rotate", "--all"]);
    run(&["rotate", "--all", "--dry-run"]);
    run(&["heartbeat", "--all"]);
    run(&["account", "list", "-o", "json"]);
    run(&["account", "show", "p/svc/access-key", "-o", "json"]);
    run(&["rotation", "list", "-o", "json"]);
    run(&["audit", "list", "-o", "json"]);
    run(&["recover"]);
    run(&["provider", "show", "p", "-o", "json"]);
    let (_, key_secret) = current_key(&sb, "p/svc/access-key");
    let password = sb.json(&["account", "reveal", "p/alice/password"])["secret"].as_str().unwrap().to_owned();
    let vault = vault_bytes(&sb.vault_file());
    for (name, secret) in [
        ("new access key secret", key_secret.as_str()),
        ("old access key secret", seeded.svc.1.as_str()),
        ("provider secret", seeded.admin.1.as_str()),
        ("new password", password.as_str()),
        ("adopted password", "Alice-Initial-1!"),
        ("vault passphrase", common::PASSPHRASE),
    ] {
        assert!(!contains(&transcript, secret), "the {name} appears in command output or logs");
        assert!(!contains(&vault, secret), "the {name} is stored in the clear");
    }
    assert!(transcript.len() > 1000, "trace logging produced output to scan");
}

/// The generated least-privilege policy is enough: a principal holding only its actions adds
/// and rotates both kinds of account, and loses the ability when one action is taken away
/// (moto evaluates IAM actions once authentication is on; it does not evaluate IAM resource
/// ARNs, so the resources are widened to `*` for it and checked separately).
#[test]
fn the_generated_policy_is_sufficient_and_each_action_matters() {
    let (moto, sb, seeded) = world();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let put = |mut policy: serde_json::Value, drop: Option<&str>| {
        for st in policy["Statement"].as_array_mut().unwrap() {
            st["Resource"] = "*".into();
            if let Some(d) = drop {
                st["Action"].as_array_mut().unwrap().retain(|a| a != d);
            }
        }
        let doc = policy.to_string();
        iam::block_on(admin.put_user_policy().user_name("rotator").policy_name("rekey").policy_document(doc).send())
            .unwrap();
    };
    iam::block_on(admin.create_user().user_name("rotator").send()).unwrap();
    let k = iam::block_on(admin.create_access_key().user_name("rotator").send()).unwrap().access_key.unwrap();
    let empty = Sandbox::new();
    empty.init();
    let out = empty.rekey().arg("policy").assert().success().get_output().stdout.clone();
    let generic: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(generic["Statement"][0]["Resource"][0], "arn:aws:iam::*:user/*", "no accounts yet: any user");
    put(generic.clone(), None);
    sb.add_provider(&moto, "lp", &(k.access_key_id, k.secret_access_key));
    iam::block_on(admin.create_login_profile().user_name("alice").password("Alice-Pw-1!").send()).ok();
    sb.adopt_password("lp", "alice", "Alice-Pw-1!");
    iam::block_on(admin.create_user().user_name("worker").send()).unwrap();
    sb.rekey()
        .args(["account", "add", "--provider", "lp", "--user", "worker", "--kind", "access-key", "--create"])
        .assert()
        .success();
    fast(&sb, "lp/worker/access-key", &["--previous-key", "delete"]);
    let out = sb.rekey().args(["policy", "--provider", "lp"]).assert().success().get_output().stdout.clone();
    let scoped: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let resources = scoped["Statement"][0]["Resource"].to_string();
    assert!(resources.contains("user/worker") && resources.contains("user/alice"), "{scoped}");
    assert!(!resources.contains("user/svc"), "only this provider's users: {scoped}");
    let reports = sb.json(&["rotate", "--provider", "lp"]);
    assert!(reports.as_array().unwrap().iter().all(|r| r["outcome"] == "done"), "{reports}");
    // Without iam:CreateAccessKey the access key can no longer be rotated.
    put(scoped, Some("iam:CreateAccessKey"));
    let out =
        sb.rekey().args(["rotate", "lp/worker/access-key", "-o", "json"]).assert().code(9).get_output().stdout.clone();
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(r[0]["error"].to_string().contains("CreateAccessKey"), "{r}");
}

/// Two providers reach the same AWS account and each manages a key of the same user: neither
/// rotation may take the other's key for an orphan.
#[test]
fn a_key_managed_through_another_provider_is_never_deleted() {
    let (moto, sb, seeded) = world();
    sb.add_provider(&moto, "p2", &seeded.admin);
    sb.rekey()
        .args(["account", "add", "--provider", "p2", "--user", "svc", "--kind", "access-key", "--create"])
        .arg("--allow-no-free-slot") // svc already holds p's key: no free slot is the point
        .assert()
        .success();
    let (other_key, other_secret) = current_key(&sb, "p2/svc/access-key");
    let out =
        sb.rekey().args(["rotate", "p/svc/access-key", "-o", "json"]).assert().code(9).get_output().stdout.clone();
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(r[0]["error"].to_string().contains("no free access-key slot"), "{r}");
    let ids: Vec<String> = iam_keys(&moto, &seeded.admin, "svc").into_iter().map(|k| k.0).collect();
    assert!(ids.contains(&other_key) && ids.contains(&seeded.svc.0), "{ids:?}");
    iam::block_on(iam::client_with(&moto, &other_key, &other_secret).get_user().send()).expect("p2's key still works");
}

/// A post-rotation script gets the new key on stdin (never in argv or env); a failing script
/// aborts the rotation and the old key stays current.
#[test]
fn post_rotation_scripts_receive_the_secret_on_stdin_only() {
    let (moto, sb, seeded) = world();
    let script = sb.path("hook.sh");
    let seen = sb.path("seen");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > '{0}.stdin'\nenv > '{0}.env'\necho \"$@\" > '{0}.args'\necho '{{\"ok\": true}}'\n",
            seen.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    fast(
        &sb,
        "p/svc/access-key",
        &["--previous-key", "delete", "--script", script.to_str().unwrap(), "--script-arg", "--deploy"],
    );
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let (key, secret) = current_key(&sb, "p/svc/access-key");
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.stdin", seen.display())).unwrap()).unwrap();
    assert_eq!(input["access_key_id"], key.as_str());
    assert_eq!(input["secret"], secret.as_str());
    assert_eq!(input["old_access_key_id"], seeded.svc.0.as_str());
    assert_eq!(input["account"], "p/svc/access-key");
    let env = std::fs::read_to_string(format!("{}.env", seen.display())).unwrap();
    let args = std::fs::read_to_string(format!("{}.args", seen.display())).unwrap();
    assert_eq!(args.trim(), "--deploy");
    assert!(!env.contains(&secret) && !args.contains(&secret), "the secret is only on stdin");
    assert!(!env.contains("REKEY_PASSPHRASE"), "the script's environment is cleared");

    // A script that fails aborts the next rotation: the key just delivered stays current.
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\nexit 3\n").unwrap();
    let out =
        sb.rekey().args(["rotate", "p/svc/access-key", "-o", "json"]).assert().code(9).get_output().stdout.clone();
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(r[0]["outcome"], "aborted", "{r}");
    assert_eq!(current_key(&sb, "p/svc/access-key").0, key);
    let ids: Vec<String> = iam_keys(&moto, &seeded.admin, "svc").into_iter().map(|k| k.0).collect();
    assert_eq!(ids, vec![key], "the aborted rotation's key was deleted");
}

/// New keys land in Secrets Manager (a new version, the secret created if missing) and in an
/// SSM SecureString, in the credential's account; the policy names exactly those resources.
#[test]
fn new_keys_are_delivered_to_secrets_manager_and_ssm() {
    let (moto, sb, seeded) = world();
    fast(&sb, "p/svc/access-key", &["--secrets-manager", "prod/svc/aws", "--ssm-parameter", "/prod/svc/aws"]);
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let (key, secret) = current_key(&sb, "p/svc/access-key");
    let creds = aws_credential_types::Credentials::new(&seeded.admin.0, &seeded.admin.1, None, None, "test");
    let region = aws_sdk_ssm::config::Region::new("us-east-1");
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(region.clone())
            .endpoint_url(&moto.url)
            .credentials_provider(creds.clone())
            .build(),
    );
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(region)
            .endpoint_url(&moto.url)
            .credentials_provider(creds)
            .build(),
    );
    let stored = iam::block_on(sm.get_secret_value().secret_id("prod/svc/aws").send()).unwrap().secret_string.unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["AccessKeyId"], key.as_str());
    assert_eq!(stored["SecretAccessKey"], secret.as_str());
    let param = iam::block_on(ssm.get_parameter().name("/prod/svc/aws").with_decryption(true).send()).unwrap();
    let param = param.parameter.unwrap();
    assert_eq!(param.r#type.unwrap().as_str(), "SecureString");
    let value: serde_json::Value = serde_json::from_str(&param.value.unwrap()).unwrap();
    assert_eq!(value["AccessKeyId"], key.as_str());
    // A second rotation adds a new version.
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let (key2, _) = current_key(&sb, "p/svc/access-key");
    let stored = iam::block_on(sm.get_secret_value().secret_id("prod/svc/aws").send()).unwrap().secret_string.unwrap();
    assert!(stored.contains(&key2));
    let policy = sb.json(&["policy", "--provider", "p", "--with-delivery"]);
    let delivery =
        policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "RekeyDelivery").unwrap().to_string();
    assert!(delivery.contains("secret:prod/svc/aws*") && delivery.contains("parameter/prod/svc/aws"), "{delivery}");
    assert!(delivery.contains("ssm:PutParameter") && delivery.contains("secretsmanager:PutSecretValue"));
}

/// A webhook target gets a signed notice of the new key (the secret only when asked for), with
/// one delivery id across retries; a receiver that keeps failing aborts the rotation and the
/// delivered key stays current. Bad webhook settings are refused and change nothing.
#[test]
fn webhook_targets_are_signed_and_carry_the_secret_only_when_asked() {
    use common::receiver::{signed_json, Receiver, HOOK_KEY};
    let (moto, sb, seeded) = world();
    let hook = Receiver::start();
    let with_key = |args: &[&str]| {
        let mut c = sb.rekey();
        c.env("HOOK_KEY", HOOK_KEY).args(args);
        c
    };
    let before = sb.json(&["account", "show", "p/svc/access-key"]);
    for (bad, why) in [
        (vec!["--webhook", "ftp://h/x", "--webhook-key-env", "HOOK_KEY"], "not an http(s) URL"),
        (vec!["--webhook", &hook.url], "no signing key"),
        (vec!["--webhook", &hook.url, "--webhook-key-env", "HOOK-KEY"], "not an environment variable name"),
        (vec!["--webhook", &hook.url, "--webhook-key-env", "HOOK_KEY", "--webhook-timeout", "0s"], "zero timeout"),
        (vec!["--webhook", "https://h.example/x?token=t", "--webhook-key-env", "HOOK_KEY"], "query string"),
        (
            vec!["--webhook", "http://h.example/x", "--webhook-key-env", "HOOK_KEY", "--webhook-include-secret"],
            "over plain HTTP",
        ),
    ] {
        let mut args = vec!["account", "set", "p/svc/access-key"];
        args.extend(bad);
        with_key(&args).assert().code(2).stderr(predicates::str::contains(why));
    }
    assert_eq!(sb.json(&["account", "show", "p/svc/access-key"]), before, "refused settings change nothing");

    // A signing key that cannot be read stops the rotation before any key is created.
    sb.rekey()
        .args(["account", "set", "p/svc/access-key", "--webhook", &hook.url, "--webhook-key-env", "HOOK_KEY"])
        .assert()
        .success();
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().code(9).stdout(predicates::str::contains("HOOK_KEY"));
    assert_eq!(iam_keys(&moto, &seeded.admin, "svc").len(), 1, "no key was created");
    assert!(hook.requests().is_empty());
    sb.rekey().args(["account", "set", "p/svc/access-key", "--clear-targets"]).assert().success();

    with_key(&["account", "set", "p/svc/access-key", "--webhook", &hook.url, "--webhook-key-env", "HOOK_KEY"])
        .assert()
        .success();
    with_key(&["rotate", "p/svc/access-key"]).assert().success();
    let (key, secret) = current_key(&sb, "p/svc/access-key");
    let got = hook.requests();
    assert_eq!(got.len(), 1);
    let body = signed_json(&got[0]);
    assert_eq!(body["access_key_id"], key.as_str());
    assert_eq!(body["old_access_key_id"], seeded.svc.0.as_str());
    assert_eq!(body["account"], "p/svc/access-key");
    assert!(body.get("secret").is_none() && !common::contains(&got[0].body, &secret), "no secret unless asked");

    let set = ["account", "set", "p/svc/access-key", "--clear-targets", "--webhook", &hook.url];
    with_key(&[&set[..], &["--webhook-key-env", "HOOK_KEY", "--webhook-include-secret"]].concat()).assert().success();
    with_key(&["rotate", "p/svc/access-key"]).assert().success();
    let (key2, secret2) = current_key(&sb, "p/svc/access-key");
    let got = hook.requests();
    assert_eq!(got.len(), 2, "one target after --clear-targets");
    let body = signed_json(&got[1]);
    assert_eq!(
        (body["access_key_id"].as_str(), body["secret"].as_str()),
        (Some(key2.as_str()), Some(secret2.as_str()))
    );

    // A receiver failing with 503 is tried three times with one delivery id, then the rotation
    // aborts: the delivered key stays current and IAM holds nothing else. The receiver may have
    // applied the aborted key all the same (an answer lost): it is sent the current key again.
    hook.status.store(503, std::sync::atomic::Ordering::SeqCst);
    with_key(&["rotate", "p/svc/access-key"]).assert().code(9);
    let got = hook.requests();
    assert!(got.len() > 5, "three attempts, then the current key again: {}", got.len());
    let ids: Vec<_> = got[2..5].iter().map(|r| r.header("x-rekey-delivery").unwrap().to_owned()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let aborted = signed_json(&got[2])["access_key_id"].as_str().unwrap().to_owned();
    assert_ne!(aborted, key2);
    let again: Vec<String> =
        got[5..].iter().map(|r| signed_json(r)["access_key_id"].as_str().unwrap().to_owned()).collect();
    assert!(again.iter().all(|k| *k == key2), "only the current key is sent again: {again:?}");
    assert_eq!(current_key(&sb, "p/svc/access-key").0, key2);
    let ids: Vec<String> = iam_keys(&moto, &seeded.admin, "svc").into_iter().map(|k| k.0).collect();
    assert!(ids.contains(&key2) && ids.len() <= 2, "{ids:?}");
    assert!(!ids.iter().any(|i| *i != key2 && *i != key), "no key whose secret nobody has: {ids:?}");
}
