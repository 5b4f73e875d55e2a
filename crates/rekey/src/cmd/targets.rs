//! Builds the GitHub, GitLab, Kubernetes and manual targets of `account set` from its options,
//! each validated before the vault is opened.

use crate::cli_targets::DeliveryArgs;
use rekey_domain::{
    targets::{GithubTarget, GitlabScope, GitlabTarget, KubernetesTarget, ManualTarget},
    RotationSettings, Target, ValueFormat,
};
use rekey_engine::{Error, Result};

fn absolute(p: &str) -> Result<String> {
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .map_err(|e| Error::usage(format!("{p}: {e}"), "give a valid path"))
}

fn github(a: &DeliveryArgs, timeout_ms: u64) -> Result<Option<Target>> {
    if a.github_repo.is_none() && a.github_org.is_none() {
        return Ok(None);
    }
    Ok(Some(Target::GithubActions(GithubTarget {
        api_url: a.github_api_url.clone(),
        repository: a.github_repo.clone(),
        environment: a.github_environment.clone(),
        organization: a.github_org.clone(),
        visibility: a.github_visibility,
        key_id_name: a.key_id_name.clone(),
        secret_name: a.secret_name.clone(),
        token_env: a.github_token_env.clone(),
        token_file: a.github_token_file.as_deref().map(absolute).transpose()?,
        timeout_ms,
        format: None,
    })))
}

fn gitlab(a: &DeliveryArgs, timeout_ms: u64) -> Result<Option<Target>> {
    let (scope, path) = match (&a.gitlab_project, &a.gitlab_group) {
        (Some(p), _) => (GitlabScope::Project, p.clone()),
        (None, Some(g)) => (GitlabScope::Group, g.clone()),
        (None, None) => return Ok(None),
    };
    Ok(Some(Target::Gitlab(GitlabTarget {
        url: a.gitlab_url.clone(),
        scope,
        path,
        environment_scope: a.gitlab_environment_scope.clone(),
        masked: a.gitlab_masked,
        protected: a.gitlab_protected,
        key_id_name: a.key_id_name.clone(),
        secret_name: a.secret_name.clone(),
        token_env: a.gitlab_token_env.clone(),
        token_file: a.gitlab_token_file.as_deref().map(absolute).transpose()?,
        timeout_ms,
        format: None,
    })))
}

fn kubernetes(a: &DeliveryArgs, timeout_ms: u64) -> Result<Option<Target>> {
    let Some(secret) = &a.k8s_secret else { return Ok(None) };
    let Some((namespace, name)) = secret.split_once('/') else {
        return Err(Error::usage(
            format!("--k8s-secret {secret:?} is not NAMESPACE/NAME"),
            "e.g. --k8s-secret payments/aws-credentials",
        ));
    };
    Ok(Some(Target::Kubernetes(KubernetesTarget {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        key_id_key: a.key_id_name.clone(),
        secret_key: a.secret_name.clone(),
        kubeconfig: a.k8s_kubeconfig.as_deref().map(absolute).transpose()?,
        context: a.k8s_context.clone(),
        restart: a.k8s_restart.clone(),
        timeout_ms,
        format: None,
    })))
}

fn manual(a: &DeliveryArgs) -> Result<Option<Target>> {
    let Some(instructions) = &a.manual else { return Ok(None) };
    Ok(Some(Target::Manual(ManualTarget {
        instructions: instructions.clone(),
        deadline_ms: a.manual_deadline,
        on_deadline: a.manual_on_deadline,
        format: None,
    })))
}

/// The targets these options add, each validated.
pub fn parse(a: &DeliveryArgs) -> Result<Vec<Target>> {
    let timeout_ms = a.api_timeout;
    let targets: Vec<Target> = [github(a, timeout_ms)?, gitlab(a, timeout_ms)?, kubernetes(a, timeout_ms)?, manual(a)?]
        .into_iter()
        .flatten()
        .collect();
    RotationSettings { targets: targets.clone(), ..Default::default() }.validate()?;
    Ok(targets)
}

/// Gives every target added by the command the SES SMTP format, if asked for.
pub fn apply_format(a: &DeliveryArgs, targets: &mut [Target]) -> Result<()> {
    let Some(region) = &a.ses_smtp_region else { return Ok(()) };
    let format = ValueFormat::SesSmtp { region: region.clone() };
    format.validate()?;
    if targets.is_empty() {
        return Err(Error::usage(
            "--ses-smtp-region applies to the targets added by the same command, and it adds none",
            "give it with the target, e.g. --manual \"SMTP relay settings\" --ses-smtp-region eu-west-1",
        ));
    }
    for t in targets.iter_mut() {
        if matches!(t, Target::AwsCredentialsFile { .. }) {
            return Err(Error::usage(
                "a credentials file holds an AWS key, not an SMTP password",
                "add the credentials file in a command of its own, without --ses-smtp-region",
            ));
        }
        t.set_format(Some(format.clone()));
    }
    Ok(())
}
