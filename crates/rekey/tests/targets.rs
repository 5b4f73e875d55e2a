//! End-to-end tests of the GitHub, GitLab, Kubernetes and manual delivery targets: the real
//! binary rotates svc's key on moto (through the model of real AWS) and delivers it to the
//! contract fakes of rekey-fakes, started by the test on 127.0.0.1. What arrived is compared
//! with what the vault holds; tokens and secrets stay out of the settings and the audit log.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{Sandbox, SVC_KEY};
use rekey_fakes::faults::{Fault, FaultKind};
use serde_json::Value;

const TOKEN: &str = "fake-api-token-5f0c1d";

fn token_file(sb: &Sandbox) -> String {
    let p = sb.path("api.token");
    std::fs::write(&p, format!("{TOKEN}\n")).unwrap();
    p.display().to_string()
}

/// `account set SVC_KEY` with fast verification, the previous key deleted at once, and `args`.
fn set(sb: &Sandbox, args: &[&str]) {
    sb.fast_verify(SVC_KEY)
        .args(["--previous-key", "delete", "--deactivate-after", "0s", "--delete-after", "0s"])
        .args(args)
        .assert()
        .success();
}

fn rotate(sb: &Sandbox) -> Value {
    let out = sb.rekey().args(["rotate", SVC_KEY, "-o", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    v[0].clone()
}

fn github(sb: &Sandbox, url: &str) -> Vec<String> {
    let file = token_file(sb);
    ["--github-repo", "acme/app", "--github-api-url", url, "--github-token-file", &file].map(String::from).to_vec()
}

#[test]
fn github_actions_secrets_receive_the_vaults_key() {
    let (moto, sb, seeded) = common::svc_world();
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, None), 0).unwrap();
    let args = github(&sb, &gh.server.url);
    set(&sb, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let shown = sb.json(&["account", "show", SVC_KEY]);
    let target = &shown["settings"]["targets"][0];
    assert_eq!(target["type"], "github-actions");
    assert_eq!(target["repository"], "acme/app");
    assert!(target["token_file"].as_str().unwrap().ends_with("api.token"));
    assert_eq!(rotate(&sb)["outcome"], "done");
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    assert_eq!(gh.state.secret("acme/app", "AWS_ACCESS_KEY_ID").unwrap().value, key_id);
    assert_eq!(gh.state.secret("acme/app", "AWS_SECRET_ACCESS_KEY").unwrap().value, secret);
    let audit = sb.rekey().args(["audit", "list", "-o", "json"]).output().unwrap().stdout;
    assert!(
        !common::contains(&audit, TOKEN) && !common::contains(&audit, &secret),
        "a token or secret in the audit log"
    );
    assert!(!common::contains(&common::vault_bytes(&sb.vault_file()), TOKEN), "a token in the vault");
}

#[test]
fn a_github_api_that_keeps_failing_aborts_the_rotation_cleanly() {
    let (moto, sb, seeded) = common::svc_world();
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, None), 0).unwrap();
    let args = github(&sb, &gh.server.url);
    set(&sb, &args.iter().map(String::as_str).collect::<Vec<_>>());
    gh.server.faults.arm(Fault {
        method: Some(http::Method::PUT),
        path_contains: "SECRET".into(),
        kind: FaultKind::Status(500),
        times: u32::MAX,
    });
    let r = rotate(&sb);
    assert_eq!(r["outcome"], "aborted", "{r}");
    gh.server.faults.clear();
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    assert_eq!(key_id, seeded.svc.0, "the old key stays current");
    // The key id written before the failure is put back to the old one.
    assert_eq!(gh.state.secret("acme/app", "AWS_ACCESS_KEY_ID").unwrap().value, key_id);
    assert!(gh.state.secret("acme/app", "AWS_SECRET_ACCESS_KEY").is_none_or(|s| s.value == secret));
}

#[test]
fn gitlab_variables_and_a_kubernetes_secret_receive_the_vaults_key() {
    let (moto, sb, seeded) = common::svc_world();
    let gl = rekey_fakes::start_gitlab(rekey_fakes::gitlab::Gitlab::new(TOKEN), 0).unwrap();
    let ca = rekey_fakes::tls::TestCa::new().unwrap();
    let k8s =
        rekey_fakes::start_kubernetes(rekey_fakes::kubernetes::Kubernetes::new(TOKEN, &[("ci", "runner")]), &ca, 0)
            .unwrap();
    std::fs::write(sb.path("ca.crt"), &ca.ca_pem).unwrap();
    let file = token_file(&sb);
    std::fs::write(
        sb.path("kubeconfig"),
        format!("current-context: c\nclusters: [{{name: k, cluster: {{server: '{}', certificate-authority: ca.crt}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{tokenFile: {file}}}}}]\n", k8s.server.url),
    )
    .unwrap();
    let kubeconfig = sb.path("kubeconfig").display().to_string();
    set(&sb, &["--gitlab-project", "acme/app", "--gitlab-url", &gl.server.url, "--gitlab-token-env", "GL_TOKEN_E2E"]);
    set(&sb, &["--k8s-secret", "ci/aws", "--k8s-kubeconfig", &kubeconfig, "--k8s-restart", "runner"]);
    let out = sb.rekey().args(["rotate", SVC_KEY]).env("GL_TOKEN_E2E", TOKEN).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    let var = |k: &str| gl.state.variable("projects/acme/app", k, "*").unwrap();
    assert_eq!((var("AWS_ACCESS_KEY_ID").value, var("AWS_SECRET_ACCESS_KEY").value), (key_id.clone(), secret.clone()));
    assert!(var("AWS_SECRET_ACCESS_KEY").masked);
    let data = k8s.state.secret_data("ci", "aws").unwrap();
    assert_eq!((data["AWS_ACCESS_KEY_ID"].clone(), data["AWS_SECRET_ACCESS_KEY"].clone()), (key_id, secret));
    assert_eq!(k8s.state.deployment("ci", "runner").unwrap().generation, 2, "restarted once");
}

#[test]
fn a_manual_delivery_is_revealed_and_confirmed_through_the_binary() {
    let (moto, sb, seeded) = common::svc_world();
    set(&sb, &["--manual", "Mail vendor > SMTP relay", "--manual-deadline", "1d", "--ses-smtp-region", "eu-west-1"]);
    let r = rotate(&sb);
    assert_eq!(r["outcome"], "awaiting-confirmation", "{r}");
    let id = r["rotation"].as_str().unwrap().to_owned();
    let open = sb.json(&["rotation", "list", "--open"]);
    assert_eq!(open[0]["id"], id.as_str());
    let pending = sb.json(&["rotation", "reveal", &id]);
    assert_eq!(pending["access_key_id"], r["new_key_id"]);
    assert_eq!(pending["instructions"], "Mail vendor > SMTP relay");
    let confirmed = sb.json(&["rotation", "confirm", &id]);
    assert_eq!(confirmed[0]["outcome"], "done", "{confirmed}");
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    assert_eq!(pending["access_key_id"], key_id.as_str());
    let smtp = rekey_crypto::ses::smtp_password(&rekey_crypto::Secret::new(secret), "eu-west-1");
    assert_eq!(pending["secret"], smtp.expose());
    sb.rekey().args(["rotation", "confirm", &id]).assert().code(4);
}

#[test]
fn bad_target_settings_are_refused_before_anything_changes() {
    let (_moto, sb, _seeded) = common::svc_world();
    for args in [
        vec!["--github-repo", "no-slash", "--github-token-env", "T"],
        vec!["--github-repo", "a/b", "--github-token-env", "REKEY_PASSPHRASE"],
        vec!["--github-repo", "a/b"],
        vec!["--github-repo", "a/b", "--github-token-env", "T", "--github-api-url", "http://github.example.com/api/v3"],
        vec!["--gitlab-project", "/abs", "--gitlab-token-env", "T"],
        vec!["--k8s-secret", "no-namespace"],
        vec!["--k8s-secret", "ns/Bad_Name"],
        vec!["--manual", "x", "--manual-deadline", "10s"],
        vec!["--manual", "x", "--ses-smtp-region", "mars"],
        vec!["--credentials-file", "/tmp/c", "--profile", "p", "--ses-smtp-region", "us-east-1"],
    ] {
        let out = sb.rekey().args(["account", "set", SVC_KEY]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(sb.json(&["account", "show", SVC_KEY])["settings"], serde_json::json!({}));
}
