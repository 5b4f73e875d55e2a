//! The three master key sources end to end: a key file, an AWS KMS key (moto's KMS), and a
//! passphrase; each opens its vault, and the wrong key of each kind is refused with exit 7.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox};

fn kms_key(moto: &Moto) -> String {
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(creds)
        .build();
    let out = iam::block_on(aws_sdk_kms::Client::from_conf(conf).create_key().send()).unwrap();
    out.key_metadata.unwrap().key_id
}

/// The vault works: a provider can be added and listed.
fn use_vault(sb: &Sandbox, cmd: impl Fn() -> assert_cmd::Command) {
    let _ = sb;
    cmd()
        .args(["provider", "add", "chain", "--region", "us-east-1", "--default-chain", "--no-test"])
        .assert()
        .success();
    let out = cmd().args(["provider", "list", "-o", "json"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["name"], "chain");
}

#[test]
fn kms_protects_the_vault_key() {
    let moto = Moto::start();
    let key = kms_key(&moto);
    let other = kms_key(&moto);
    let sb = Sandbox::new();
    let kms_init = |k: &str| {
        let mut c = sb.rekey();
        c.env_remove("REKEY_PASSPHRASE").args(["init", "--kms-key-id", k, "--kms-endpoint-url", &moto.url]);
        c
    };
    kms_init(&key).assert().success();
    // Which KMS key opens the vault is the operator's to say (M1): REKEY_KMS_* must name the
    // key and endpoint the vault was created with. No passphrase is needed: KMS unwraps it.
    let with_kms = |k: &str, endpoint: &str| {
        let mut c = sb.rekey();
        c.env_remove("REKEY_PASSPHRASE").env("REKEY_KMS_KEY_ID", k).env("REKEY_KMS_ENDPOINT_URL", endpoint);
        c
    };
    use_vault(&sb, || with_kms(&key, &moto.url));
    let mut c = sb.rekey();
    c.env_remove("REKEY_PASSPHRASE").args(["provider", "list"]);
    c.assert().code(7).stderr(predicates::str::contains("REKEY_KMS_KEY_ID is not set"));
    let header = common::vault_bytes(&sb.vault_file());
    assert!(common::contains(&header, &key), "the header records the KMS key id");
    // A header pointed at another KMS key or endpoint (M1: a fake KMS would hand back a key of
    // the attacker's choosing) no longer matches the operator's settings: exit 7.
    let url = format!("sqlite://{}", sb.vault_file().display());
    let rewrite = |from: &str, to: &str| {
        iam::block_on(async {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("UPDATE vault_header SET key_params = replace(key_params, $1, $2)")
                .bind(from)
                .bind(to)
                .execute(&pool)
                .await
                .unwrap();
        })
    };
    rewrite(&moto.url, "http://127.0.0.1:9");
    with_kms(&key, &moto.url)
        .args(["provider", "list"])
        .assert()
        .code(7)
        .stderr(predicates::str::contains("the vault was created with KMS key"));
    rewrite("http://127.0.0.1:9", &moto.url);
    rewrite(&key, &other);
    with_kms(&key, &moto.url).args(["provider", "list"]).assert().code(7);
    // Even with the operator naming the other key, KMS refuses to decrypt the blob under it.
    with_kms(&other, &moto.url)
        .args(["provider", "list"])
        .assert()
        .code(7)
        .stderr(predicates::str::contains("KMS could not unwrap the vault key"));
}

#[test]
fn a_key_file_protects_the_vault_key() {
    let sb = Sandbox::new();
    let key = sb.path("vault.key");
    sb.rekey().env_remove("REKEY_PASSPHRASE").arg("init").arg("--key-file").arg(&key).assert().success();
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "a new key file holds 64 hex characters");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The key file is named by the operator every time (M1), never taken from the header.
    use_vault(&sb, || {
        let mut c = sb.rekey();
        c.env_remove("REKEY_PASSPHRASE").env("REKEY_KEY_FILE", &key);
        c
    });
    let mut c = sb.rekey();
    c.env_remove("REKEY_PASSPHRASE").env_remove("REKEY_KEY_FILE").args(["provider", "list"]);
    c.assert().code(7).stderr(predicates::str::contains("pass --key-file PATH or set REKEY_KEY_FILE"));
    // Another key file is refused.
    let wrong = sb.path("other.key");
    std::fs::write(&wrong, "ab".repeat(32)).unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut c = sb.rekey();
    c.env_remove("REKEY_PASSPHRASE").arg("--key-file").arg(&wrong).args(["provider", "list"]);
    c.assert().code(7).stderr(predicates::str::contains("does not open this vault"));
}

#[test]
fn a_passphrase_protects_the_vault_key() {
    let sb = Sandbox::new();
    sb.init();
    use_vault(&sb, || sb.rekey());
    sb.rekey().env("REKEY_PASSPHRASE", "not the passphrase").args(["provider", "list"]).assert().code(7);
    // A passphrase file works as well as the environment variable.
    let file = sb.path("pass");
    std::fs::write(&file, format!("{}\n", common::PASSPHRASE)).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sb.rekey()
        .env_remove("REKEY_PASSPHRASE")
        .arg("--passphrase-file")
        .arg(&file)
        .args(["provider", "list"])
        .assert()
        .success();
}
