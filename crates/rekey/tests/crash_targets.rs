//! Crash tests of the API targets: the real binary is killed (abort, no cleanup) at each
//! boundary of a delivery to GitHub, GitLab and Kubernetes — the delivery phase journaled
//! and nothing sent, one of the two secrets written, the Secret written but the Deployment not yet
//! restarted, everything sent but the acknowledgement not journaled — then `rekey recover`
//! runs. Afterwards the target holds exactly the vault's current key and IAM holds no other.

#![cfg(feature = "failpoints")] // the crash points exist only in a `--features failpoints` build
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::SVC_KEY;

const TOKEN: &str = "fake-api-token-crash";

fn crash_then_recover(sb: &common::Sandbox, failpoint: &str) {
    let out = sb.rekey().args(["rotate", SVC_KEY]).env("FAILPOINTS", format!("{failpoint}=return")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("failpoint {failpoint}: aborting")), "did not reach {failpoint}: {stderr}");
    sb.rekey().arg("recover").assert().success();
    assert_eq!(sb.json(&["rotation", "list", "--open"]), serde_json::json!([]));
}

fn set(sb: &common::Sandbox, args: &[&str]) {
    sb.fast_verify(SVC_KEY)
        .args(["--previous-key", "delete", "--deactivate-after", "0s", "--delete-after", "0s"])
        .args(args)
        .assert()
        .success();
}

fn github_case(failpoint: &str) {
    let (moto, sb, seeded) = common::svc_world();
    let gh = rekey_fakes::start_github(rekey_fakes::github::Github::new(TOKEN, None), 0).unwrap();
    std::fs::write(sb.path("gh.token"), TOKEN).unwrap();
    let token = sb.path("gh.token").display().to_string();
    set(&sb, &["--github-org", "acme", "--github-api-url", &gh.server.url, "--github-token-file", &token]);
    crash_then_recover(&sb, failpoint);
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    assert_ne!(key_id, seeded.svc.0, "the rotation completed");
    assert_eq!(gh.state.secret("org:acme", "AWS_ACCESS_KEY_ID").unwrap().value, key_id);
    let stored = gh.state.secret("org:acme", "AWS_SECRET_ACCESS_KEY").unwrap();
    assert_eq!((stored.value, stored.visibility.as_deref()), (secret, Some("private")));
}

fn gitlab_case(failpoint: &str) {
    let (moto, sb, seeded) = common::svc_world();
    let gl = rekey_fakes::start_gitlab(rekey_fakes::gitlab::Gitlab::new(TOKEN), 0).unwrap();
    std::fs::write(sb.path("gl.token"), TOKEN).unwrap();
    let token = sb.path("gl.token").display().to_string();
    set(&sb, &["--gitlab-project", "acme/app", "--gitlab-url", &gl.server.url, "--gitlab-token-file", &token]);
    crash_then_recover(&sb, failpoint);
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    assert_ne!(key_id, seeded.svc.0, "the rotation completed");
    let var = |k: &str| gl.state.variable("projects/acme/app", k, "*").unwrap();
    assert_eq!((var("AWS_ACCESS_KEY_ID").value, var("AWS_SECRET_ACCESS_KEY").value), (key_id, secret));
    assert_eq!(gl.state.all().len(), 2, "no duplicate variables");
}

fn kubernetes_case(failpoint: &str) {
    let (moto, sb, seeded) = common::svc_world();
    let ca = rekey_fakes::tls::TestCa::new().unwrap();
    let k8s =
        rekey_fakes::start_kubernetes(rekey_fakes::kubernetes::Kubernetes::new(TOKEN, &[("ci", "runner")]), &ca, 0)
            .unwrap();
    std::fs::write(sb.path("ca.crt"), &ca.ca_pem).unwrap();
    std::fs::write(
        sb.path("kubeconfig"),
        format!("current-context: c\nclusters: [{{name: k, cluster: {{server: '{}', certificate-authority: ca.crt}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{token: {TOKEN}}}}}]\n", k8s.server.url),
    )
    .unwrap();
    let kubeconfig = sb.path("kubeconfig").display().to_string();
    set(&sb, &["--k8s-secret", "ci/aws", "--k8s-kubeconfig", &kubeconfig, "--k8s-restart", "runner"]);
    crash_then_recover(&sb, failpoint);
    let (key_id, secret) = common::svc_key_alone_in_iam(&moto, &sb, &seeded);
    assert_ne!(key_id, seeded.svc.0, "the rotation completed");
    let data = k8s.state.secret_data("ci", "aws").unwrap();
    assert_eq!((data["AWS_ACCESS_KEY_ID"].clone(), data["AWS_SECRET_ACCESS_KEY"].clone()), (key_id, secret));
    assert_eq!(k8s.state.deployment("ci", "runner").unwrap().generation, 2, "one rollout, however often delivered");
}

macro_rules! cases {
    ($runner:ident: $($name:ident => $fp:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $runner($fp);
            }
        )*
    };
}

cases!(github_case:
    github_delivering_journaled => "access-key:delivering",
    github_between_the_two_secrets => "delivery:github:after-key-id",
    github_sent_not_acknowledged => "access-key:after-delivery-call",
);

cases!(gitlab_case:
    gitlab_delivering_journaled => "access-key:delivering",
    gitlab_between_the_two_variables => "delivery:gitlab:after-key-id",
    gitlab_sent_not_acknowledged => "access-key:after-delivery-call",
);

cases!(kubernetes_case:
    kubernetes_secret_written_not_restarted => "delivery:kubernetes:after-secret",
    kubernetes_sent_not_acknowledged => "access-key:after-delivery-call",
);
