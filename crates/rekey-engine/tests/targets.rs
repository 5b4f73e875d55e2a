//! Engine tests of the GitHub, GitLab, Kubernetes and manual targets and the SES SMTP format,
//! against the IAM double and the contract fakes of rekey-fakes: what arrives is the vault's
//! current key (or its derived value), faults of the APIs are absorbed or abort cleanly, and a
//! manual delivery waits — lease released — for its confirmation or its deadline.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use chrono::Duration;
use common::{world, TOKEN};
use rekey_crypto::Secret;
use rekey_domain::{
    targets::{GithubTarget, GitlabScope, GitlabTarget, KubernetesTarget, ManualTarget, OnDeadline},
    Outcome, Target, ValueFormat,
};
use rekey_fakes::faults::{Fault, FaultKind};

/// The token every fake accepts, in a variable of this test process.
fn token_env() -> Option<String> {
    std::env::set_var("REKEY_TEST_TARGET_TOKEN_UNUSED", "x");
    std::env::set_var("TARGET_TOKEN_FOR_TESTS", TOKEN);
    Some("TARGET_TOKEN_FOR_TESTS".into())
}

fn github_target(url: &str, format: Option<ValueFormat>) -> Target {
    Target::GithubActions(GithubTarget {
        api_url: url.into(),
        repository: Some("acme/app".into()),
        environment: Some("prod".into()),
        organization: None,
        visibility: None,
        key_id_name: "AWS_ACCESS_KEY_ID".into(),
        secret_name: "AWS_SECRET_ACCESS_KEY".into(),
        token_env: token_env(),
        token_file: None,
        timeout_ms: 5_000,
        format,
    })
}

#[tokio::test]
async fn github_environment_secrets_hold_the_current_key_sealed_to_the_holders_key() {
    let t = world().await;
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, None), 0).unwrap();
    t.targets(vec![github_target(&gh.server.url, None)]).await;
    // A 5xx and a lost answer (the write landed) are retried; the delivery completes.
    gh.server.faults.arm(Fault {
        method: Some(http::Method::PUT),
        path_contains: "AWS_ACCESS".into(),
        kind: FaultKind::Status(502),
        times: 1,
    });
    gh.server.faults.arm(Fault {
        method: Some(http::Method::PUT),
        path_contains: "AWS_SECRET".into(),
        kind: FaultKind::Lost,
        times: 1,
    });
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let (key_id, secret) = t.current().await;
    assert_ne!(key_id, t.old.0);
    assert_eq!(gh.state.secret("acme/app:prod", "AWS_ACCESS_KEY_ID").unwrap().value, key_id);
    let stored = gh.state.secret("acme/app:prod", "AWS_SECRET_ACCESS_KEY").unwrap();
    assert_eq!(stored.value, secret);
    assert_eq!(stored.writes, 2, "the lost answer's write landed, and the retry wrote the same value");
}

#[tokio::test]
async fn the_ses_smtp_format_delivers_the_derived_password() {
    let t = world().await;
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, None), 0).unwrap();
    let format = ValueFormat::SesSmtp { region: "eu-west-1".into() };
    t.targets(vec![github_target(&gh.server.url, Some(format))]).await;
    assert_eq!(t.rotate().await.outcome, Outcome::Done);
    let (key_id, secret) = t.current().await;
    let smtp = rekey_crypto::ses::smtp_password(&Secret::new(secret.clone()), "eu-west-1");
    assert_eq!(gh.state.secret("acme/app:prod", "AWS_ACCESS_KEY_ID").unwrap().value, key_id);
    let got = gh.state.secret("acme/app:prod", "AWS_SECRET_ACCESS_KEY").unwrap().value;
    assert_eq!(got, smtp.expose());
    assert_ne!(got, secret);
}

#[tokio::test]
async fn a_refused_delivery_aborts_and_deletes_the_new_key() {
    let t = world().await;
    let mut holders = std::collections::BTreeSet::new();
    holders.insert("other/repo".to_owned());
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, Some(holders)), 0).unwrap();
    t.targets(vec![github_target(&gh.server.url, None)]).await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    assert!(r.error.as_deref().unwrap().contains("404"), "{r:?}");
    assert!(!r.error.as_deref().unwrap().contains(TOKEN));
    assert_eq!(t.current().await.0, t.old.0, "the old key stays current");
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), true)], "the new key is gone");
}

#[tokio::test]
async fn gitlab_variables_are_updated_or_created() {
    let t = world().await;
    let gl = rekey_fakes::start_gitlab(rekey_fakes::gitlab::Gitlab::new(TOKEN), 0).unwrap();
    let target = GitlabTarget {
        url: gl.server.url.clone(),
        scope: GitlabScope::Project,
        path: "acme/platform/app".into(),
        environment_scope: "production".into(),
        masked: true,
        protected: true,
        key_id_name: "AWS_ACCESS_KEY_ID".into(),
        secret_name: "AWS_SECRET_ACCESS_KEY".into(),
        token_env: token_env(),
        token_file: None,
        timeout_ms: 5_000,
        format: None,
    };
    t.targets(vec![Target::Gitlab(target)]).await;
    assert_eq!(t.rotate().await.outcome, Outcome::Done, "created");
    gl.server.faults.arm(Fault {
        method: Some(http::Method::PUT),
        path_contains: "variables".into(),
        kind: FaultKind::Status(503),
        times: 1,
    });
    assert_eq!(t.rotate().await.outcome, Outcome::Done, "updated");
    let (key_id, secret) = t.current().await;
    let holder = "projects/acme/platform/app";
    let id_var = gl.state.variable(holder, "AWS_ACCESS_KEY_ID", "production").unwrap();
    let secret_var = gl.state.variable(holder, "AWS_SECRET_ACCESS_KEY", "production").unwrap();
    assert_eq!((id_var.value, secret_var.value.clone()), (key_id, secret));
    assert!(secret_var.masked && secret_var.protected);
    assert_eq!(secret_var.writes, 2, "one create, one update");
    assert!(gl.state.variable(holder, "AWS_SECRET_ACCESS_KEY", "*").is_none(), "only the configured scope");
}

/// A world whose account delivers to Secret `payments/aws` (holding another key, `OTHER`) of a
/// Kubernetes fake with `deployments`, through a kubeconfig with the fake's CA and a token;
/// `restart` names the Deployments to restart after the write.
async fn kubernetes_world(
    deployments: &[(&str, &str)],
    restart: &[&str],
) -> (common::World, rekey_fakes::Fake<rekey_fakes::kubernetes::Kubernetes>, tempfile::TempDir) {
    let t = world().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = rekey_fakes::tls::TestCa::new().unwrap();
    let fake = rekey_fakes::kubernetes::Kubernetes::new(TOKEN, deployments);
    fake.put_secret("payments", "aws", &[("OTHER", "kept")]);
    let k8s = rekey_fakes::start_kubernetes(fake, &ca, 0).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &ca.ca_pem).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("current-context: c\nclusters: [{{name: k, cluster: {{server: '{}', certificate-authority: ca.crt}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{token: {TOKEN}}}}}]\n", k8s.server.url),
    )
    .unwrap();
    let target = KubernetesTarget {
        namespace: "payments".into(),
        name: "aws".into(),
        key_id_key: "AWS_ACCESS_KEY_ID".into(),
        secret_key: "AWS_SECRET_ACCESS_KEY".into(),
        kubeconfig: Some(kubeconfig.display().to_string()),
        context: None,
        restart: restart.iter().map(|d| (*d).to_owned()).collect(),
        timeout_ms: 5_000,
        format: None,
    };
    t.targets(vec![Target::Kubernetes(target)]).await;
    (t, k8s, dir)
}

/// GitLab creates a variable with POST and updates it with PUT: a create whose answer was lost
/// (the variable exists now) is retried as an update, and a lost update's retry writes the same
/// value again.
#[tokio::test]
async fn gitlab_writes_whose_answer_was_lost_are_retried_to_the_same_value() {
    let t = world().await;
    let gl = rekey_fakes::start_gitlab(rekey_fakes::gitlab::Gitlab::new(TOKEN), 0).unwrap();
    let target = GitlabTarget {
        url: gl.server.url.clone(),
        scope: GitlabScope::Group,
        path: "acme".into(),
        environment_scope: "*".into(),
        masked: true,
        protected: false,
        key_id_name: "AWS_ACCESS_KEY_ID".into(),
        secret_name: "AWS_SECRET_ACCESS_KEY".into(),
        token_env: token_env(),
        token_file: None,
        timeout_ms: 5_000,
        format: None,
    };
    t.targets(vec![Target::Gitlab(target)]).await;
    gl.server.faults.arm(Fault {
        method: Some(http::Method::POST),
        path_contains: "variables".into(),
        kind: FaultKind::Lost,
        times: 2,
    });
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let (key_id, secret) = t.current().await;
    let var = |k: &str| gl.state.variable("groups/acme", k, "*").unwrap();
    assert_eq!((var("AWS_ACCESS_KEY_ID").value, var("AWS_SECRET_ACCESS_KEY").value), (key_id, secret));
    gl.server.faults.arm(Fault {
        method: Some(http::Method::PUT),
        path_contains: "AWS_SECRET_ACCESS_KEY".into(),
        kind: FaultKind::Lost,
        times: 1,
    });
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let (key_id, secret) = t.current().await;
    assert_eq!((var("AWS_ACCESS_KEY_ID").value, var("AWS_SECRET_ACCESS_KEY").value), (key_id, secret));
    assert_eq!(gl.state.all().len(), 2, "no duplicate variables: {:?}", gl.state.all());
}

/// A Secret update whose answer was lost has taken effect: its retry carries a stale
/// resourceVersion, is refused 409, and is repeated after a fresh read — never skipped.
#[tokio::test]
async fn a_kubernetes_update_whose_answer_was_lost_is_repeated_after_a_fresh_read() {
    let (t, k8s, _dir) = kubernetes_world(&[], &[]).await;
    k8s.server.faults.arm(Fault {
        method: Some(http::Method::PUT),
        path_contains: "secrets/aws".into(),
        kind: FaultKind::Lost,
        times: 1,
    });
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let (key_id, secret) = t.current().await;
    let data = k8s.state.secret_data("payments", "aws").unwrap();
    assert_eq!((data["AWS_ACCESS_KEY_ID"].clone(), data["AWS_SECRET_ACCESS_KEY"].clone()), (key_id, secret));
    assert_eq!(data["OTHER"], "kept");
}

#[tokio::test]
async fn a_kubernetes_secret_is_updated_with_its_resource_version_and_deployments_restart_once() {
    let (t, k8s, _dir) = kubernetes_world(&[("payments", "api")], &["api"]).await;
    // Two other writers change the Secret between rekey's read and its update.
    k8s.state.interleave_writers(2);
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    let (key_id, secret) = t.current().await;
    let data = k8s.state.secret_data("payments", "aws").unwrap();
    assert_eq!(data["AWS_ACCESS_KEY_ID"], key_id);
    assert_eq!(data["AWS_SECRET_ACCESS_KEY"], secret);
    assert_eq!(data["OTHER"], "kept");
    let d = k8s.state.deployment("payments", "api").unwrap();
    assert_eq!(d.generation, 2, "one rollout");
    assert_eq!(d.template_annotations["rekey.dev/rotation"], r.rotation.unwrap());
    let puts = k8s.server.requests().iter().filter(|l| l.starts_with("PUT") && l.ends_with("409")).count();
    assert_eq!(puts, 2, "each conflicting update was refused: {:?}", k8s.server.requests());
}

#[tokio::test]
async fn a_kubernetes_server_whose_certificate_the_ca_did_not_sign_is_refused() {
    let t = world().await;
    let dir = tempfile::tempdir().unwrap();
    let (served, trusted) = (rekey_fakes::tls::TestCa::new().unwrap(), rekey_fakes::tls::TestCa::new().unwrap());
    let k8s = rekey_fakes::start_kubernetes(rekey_fakes::kubernetes::Kubernetes::new(TOKEN, &[]), &served, 0).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &trusted.ca_pem).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("current-context: c\nclusters: [{{name: k, cluster: {{server: '{}', certificate-authority: ca.crt}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{token: {TOKEN}}}}}]\n", k8s.server.url)).unwrap();
    let target = KubernetesTarget {
        namespace: "default".into(),
        name: "aws".into(),
        key_id_key: "ID".into(),
        secret_key: "SECRET".into(),
        kubeconfig: Some(kubeconfig.display().to_string()),
        context: None,
        restart: vec![],
        timeout_ms: 2_000,
        format: None,
    };
    t.targets(vec![Target::Kubernetes(target)]).await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    assert!(k8s.state.secret("default", "aws").is_none());
    assert!(k8s.server.requests().is_empty(), "no request got past the handshake");
}

fn manual(on_deadline: OnDeadline) -> Target {
    Target::Manual(ManualTarget {
        instructions: "SMTP relay settings of the mail vendor".into(),
        deadline_ms: 86_400_000,
        on_deadline,
        format: Some(ValueFormat::SesSmtp { region: "us-east-1".into() }),
    })
}

#[tokio::test]
async fn a_manual_delivery_waits_for_its_confirmation_after_the_automated_targets() {
    let t = world().await;
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, None), 0).unwrap();
    t.targets(vec![manual(OnDeadline::Abort), github_target(&gh.server.url, None)]).await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::AwaitingConfirmation, "{r:?}");
    let id = r.rotation.clone().unwrap();
    assert_eq!(t.current().await.0, t.old.0, "not committed before the confirmation");
    let new_key = r.new_key_id.clone().unwrap();
    assert_eq!(
        gh.state.secret("acme/app:prod", "AWS_ACCESS_KEY_ID").unwrap().value,
        new_key,
        "automated targets first"
    );
    assert!(t.engine.recover().await.unwrap().is_empty(), "recovery leaves a waiting rotation alone");
    // Another rotation of the account resumes the waiting one, and waits with it.
    assert_eq!(t.rotate().await.rotation.as_deref(), Some(id.as_str()));
    let pending = t.engine.reveal_pending(&id).await.unwrap();
    assert_eq!(pending.access_key_id.as_deref(), Some(new_key.as_str()));
    let done = t.engine.confirm_rotation(&id).await.unwrap();
    assert_eq!(done.outcome, Outcome::Done, "{done:?}");
    let (key_id, secret) = t.current().await;
    assert_eq!(key_id, new_key);
    assert_eq!(pending.secret, rekey_crypto::ses::smtp_password(&Secret::new(secret), "us-east-1"));
    assert!(t.engine.confirm_rotation(&id).await.is_err(), "confirmed once");
    let actions: Vec<String> =
        t.engine.audit_page(0, 1000).await.unwrap().into_iter().map(|r| r.entry.action).collect();
    assert!(actions.contains(&"rotation.reveal".to_owned()) && actions.contains(&"rotation.confirm".to_owned()));
}

#[tokio::test]
async fn an_unconfirmed_manual_delivery_aborts_at_its_deadline() {
    let t = world().await;
    t.targets(vec![manual(OnDeadline::Abort)]).await;
    let r = t.rotate().await;
    assert_eq!(r.outcome, Outcome::AwaitingConfirmation);
    t.clock.advance(Duration::days(2));
    let reports = t.engine.recover().await.unwrap();
    assert_eq!(reports[0].outcome, Outcome::Aborted, "{reports:?}");
    assert_eq!(t.aws.keys("svc"), vec![(t.old.0.clone(), true)], "the unconfirmed key is deleted");
}

#[tokio::test]
async fn an_unconfirmed_manual_delivery_notifies_once_at_its_deadline() {
    let t = world().await;
    t.targets(vec![manual(OnDeadline::Notify)]).await;
    let id = t.rotate().await.rotation.unwrap();
    t.clock.advance(Duration::days(2));
    assert_eq!(t.engine.recover().await.unwrap()[0].outcome, Outcome::AwaitingConfirmation);
    assert!(t.engine.recover().await.unwrap().is_empty(), "told once, then left to the operator");
    let stalled = t
        .engine
        .audit_page(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.action == "rotation.stalled")
        .count();
    assert_eq!(stalled, 1);
    assert_eq!(t.engine.confirm_rotation(&id).await.unwrap().outcome, Outcome::Done);
}
