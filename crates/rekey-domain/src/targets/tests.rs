use super::*;
use crate::{RotationSettings, Target};

fn github() -> GithubTarget {
    GithubTarget {
        api_url: GITHUB_API.into(),
        repository: Some("acme/deploy".into()),
        environment: None,
        organization: None,
        visibility: None,
        key_id_name: DEFAULT_KEY_ID_NAME.into(),
        secret_name: DEFAULT_SECRET_NAME.into(),
        token_env: Some("GITHUB_TOKEN_FOR_REKEY".into()),
        token_file: None,
        timeout_ms: 10_000,
        format: None,
    }
}

fn gitlab() -> GitlabTarget {
    GitlabTarget {
        url: GITLAB_URL.into(),
        scope: GitlabScope::Project,
        path: "acme/platform/deploy".into(),
        environment_scope: "*".into(),
        masked: true,
        protected: false,
        key_id_name: DEFAULT_KEY_ID_NAME.into(),
        secret_name: DEFAULT_SECRET_NAME.into(),
        token_env: None,
        token_file: Some("/etc/rekey/gitlab.token".into()),
        timeout_ms: 10_000,
        format: None,
    }
}

fn k8s() -> KubernetesTarget {
    KubernetesTarget {
        namespace: "payments".into(),
        name: "aws-credentials".into(),
        key_id_key: DEFAULT_KEY_ID_NAME.into(),
        secret_key: DEFAULT_SECRET_NAME.into(),
        kubeconfig: Some("/etc/rekey/kubeconfig".into()),
        context: None,
        restart: vec!["api".into()],
        timeout_ms: 10_000,
        format: None,
    }
}

fn manual() -> ManualTarget {
    ManualTarget {
        instructions: "SendGrid > Settings > SMTP relay".into(),
        deadline_ms: 86_400_000,
        on_deadline: OnDeadline::Abort,
        format: Some(ValueFormat::SesSmtp { region: "eu-west-1".into() }),
    }
}

#[test]
fn valid_targets_pass_and_round_trip_as_plain_json() {
    let targets = vec![
        Target::GithubActions(github()),
        Target::Gitlab(gitlab()),
        Target::Kubernetes(k8s()),
        Target::Manual(manual()),
    ];
    let s = RotationSettings { targets: targets.clone(), ..Default::default() };
    s.validate().unwrap();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["targets"][0]["type"], "github-actions");
    assert_eq!(json["targets"][0]["token_env"], "GITHUB_TOKEN_FOR_REKEY");
    assert_eq!(json["targets"][3]["format"]["kind"], "ses-smtp");
    let back: RotationSettings = serde_json::from_value(json).unwrap();
    assert_eq!(back.targets, targets);
}

#[test]
fn unknown_fields_are_refused() {
    let mut v = serde_json::to_value(Target::GithubActions(github())).unwrap();
    v["token"] = "ghp_plaintext".into();
    assert!(serde_json::from_value::<Target>(v).is_err(), "a token stored in the settings is refused");
}

#[test]
fn bad_github_targets() {
    type Edit = Box<dyn Fn(&mut GithubTarget)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("repository", Box::new(|t| t.repository = Some("no-slash".into()))),
        ("both", Box::new(|t| t.organization = Some("acme".into()))),
        ("neither", Box::new(|t| t.repository = None)),
        ("name", Box::new(|t| t.secret_name = "GITHUB_SECRET".into())),
        ("name digit", Box::new(|t| t.key_id_name = "1KEY".into())),
        ("same", Box::new(|t| t.secret_name = "aws_access_key_id".into())),
        ("token", Box::new(|t| t.token_env = None)),
        ("rekey var", Box::new(|t| t.token_env = Some("REKEY_PASSPHRASE".into()))),
        ("plain http", Box::new(|t| t.api_url = "http://github.example.com/api/v3".into())),
        ("query", Box::new(|t| t.api_url = "https://api.github.com/?access_token=x".into())),
        ("timeout", Box::new(|t| t.timeout_ms = 0)),
        (
            "org env",
            Box::new(|t| {
                t.repository = None;
                t.organization = Some("acme".into());
                t.environment = Some("prod".into())
            }),
        ),
        ("format", Box::new(|t| t.format = Some(ValueFormat::SesSmtp { region: "EU".into() }))),
    ];
    for (what, edit) in cases {
        let mut t = github();
        edit(&mut t);
        assert!(t.validate().is_err(), "{what} passed");
    }
    let mut loopback = github();
    loopback.api_url = "http://127.0.0.1:9000/api/v3".into();
    loopback.validate().unwrap();
}

/// L1: a CI API reached over plain HTTP must be loopback by address, not by prefix.
#[test]
fn l1_plain_http_api_url_must_be_loopback_by_address() {
    for url in ["http://127.attacker.example.com/api/v3", "http://localhost.attacker.example/api/v3"] {
        let mut t = github();
        t.api_url = url.into();
        assert!(t.validate().is_err(), "{url} passed");
    }
}

#[test]
fn bad_gitlab_kubernetes_and_manual_targets() {
    for path in ["", "/abs", "a//b", "a/../b", "a b"] {
        let mut t = gitlab();
        t.path = path.into();
        assert!(t.validate().is_err(), "{path:?}");
    }
    let mut t = gitlab();
    t.secret_name = "AWS-SECRET".into();
    assert!(t.validate().is_err());
    for edit in [
        |k: &mut KubernetesTarget| k.namespace = "Payments".into(),
        |k: &mut KubernetesTarget| k.name = "-x".into(),
        |k: &mut KubernetesTarget| k.secret_key = "a/b".into(),
        |k: &mut KubernetesTarget| k.kubeconfig = Some("relative/kubeconfig".into()),
        |k: &mut KubernetesTarget| k.restart = vec!["Bad_Name".into()],
        |k: &mut KubernetesTarget| {
            k.kubeconfig = None;
            k.context = Some("prod".into())
        },
    ] {
        let mut k = k8s();
        edit(&mut k);
        assert!(k.validate().is_err(), "{k:?}");
    }
    let mut in_cluster = k8s();
    in_cluster.kubeconfig = None;
    in_cluster.validate().unwrap();
    let mut m = manual();
    m.deadline_ms = 1_000;
    assert!(m.validate().is_err());
    let two =
        RotationSettings { targets: vec![Target::Manual(manual()), Target::Manual(manual())], ..Default::default() };
    assert!(two.validate().is_err());
}

#[test]
fn a_repository_without_an_owner_says_owner_repo_is_expected() {
    let t = GithubTarget { repository: Some("acme".into()), ..github() };
    let e = t.validate().unwrap_err();
    assert!(e.problem.contains("OWNER/REPO is expected"), "{e}");
    assert!(!e.problem.contains("\"\""), "{e}");
}

#[test]
fn every_kind_is_listed() {
    for t in
        [Target::GithubActions(github()), Target::Gitlab(gitlab()), Target::Kubernetes(k8s()), Target::Manual(manual())]
    {
        assert!(Target::KINDS.contains(&t.kind()), "{}", t.kind());
    }
}
