//! `rekey account targets list|remove`: an access-key account's delivery targets, numbered, and
//! the removal of one of them (by its number, or by text that names exactly one). The removal
//! is an `account set` of the settings without that target, audited as such; the target is
//! removed by value, so a concurrent change to the list cannot make it remove another one.

use super::print_account;
use crate::{
    cli::{account_ref, Format, Global},
    context,
    output::{self, Tabular},
};
use clap::Subcommand;
use rekey_domain::Target;
use rekey_engine::{delivery::sink_for, AccountChanges, AccountRef, Engine, Error, Result};
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum TargetsCmd {
    /// List the account's delivery targets, numbered
    List {
        /// Account id or PROVIDER/USER/KIND
        #[arg(value_parser = account_ref)]
        account: AccountRef,
    },
    /// Remove one delivery target (the others stay; --clear-targets of `account set` removes all)
    Remove {
        /// Account id or PROVIDER/USER/KIND
        #[arg(value_parser = account_ref)]
        account: AccountRef,
        /// The target: its number in `account targets list`, its description as listed there,
        /// or text found in exactly one description (e.g. "acme/app", "ssm-parameter /ci/key")
        target: String,
    },
}

pub async fn run(global: &Global, format: Format, cmd: TargetsCmd) -> Result<()> {
    match cmd {
        TargetsCmd::List { account } => {
            let engine = context::engine(global).await?;
            let rows: Vec<TargetRow> =
                targets_of(&engine, &account).await?.iter().enumerate().map(|(i, t)| TargetRow::of(i, t)).collect();
            output::list(format, &rows);
        }
        TargetsCmd::Remove { account, target } => {
            let engine = context::engine_for_write(global).await?;
            let targets = targets_of(&engine, &account).await?;
            let chosen = choose(&targets, &target)?.clone();
            let id = engine
                .set_account(&account, AccountChanges::default(), |s| s.targets.retain(|t| t != &chosen))
                .await?
                .id;
            errln!("Removed the delivery target {} of account {id}.", sink_for(&chosen).describe());
            print_account(&engine, format, &AccountRef::Id(id)).await?;
        }
    }
    Ok(())
}

async fn targets_of(engine: &Engine, r: &AccountRef) -> Result<Vec<Target>> {
    let account = engine.account(r).await?;
    Ok(Engine::settings_of(&account)?.targets.clone())
}

/// The one target `spec` names: a number from 1, an exact description, or text in exactly one
/// description.
fn choose<'a>(targets: &'a [Target], spec: &str) -> Result<&'a Target> {
    let listed = "`rekey account targets list ACCOUNT` shows them, numbered";
    if targets.is_empty() {
        return Err(Error::NotFound { what: "a delivery target on this account".into(), hint: listed.into() });
    }
    if let Ok(n) = spec.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| targets.get(i)).ok_or_else(|| Error::NotFound {
            what: format!("delivery target {n} (the account has {})", targets.len()),
            hint: listed.into(),
        });
    }
    let described: Vec<(String, &Target)> = targets.iter().map(|t| (sink_for(t).describe(), t)).collect();
    if let Some((_, t)) = described.iter().find(|(d, _)| d == spec) {
        return Ok(t);
    }
    let found: Vec<&(String, &Target)> =
        described.iter().filter(|(d, _)| !spec.is_empty() && d.contains(spec)).collect();
    match found.as_slice() {
        [(_, t)] => Ok(t),
        [] => Err(Error::NotFound { what: format!("a delivery target matching {spec:?}"), hint: listed.into() }),
        many => Err(Error::usage(
            format!(
                "{spec:?} matches {} delivery targets: {}",
                many.len(),
                many.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join("; ")
            ),
            "name the target by its number in `rekey account targets list ACCOUNT`, or by more of its description",
        )),
    }
}

/// A delivery target as listed.
#[derive(Debug, Serialize)]
struct TargetRow {
    /// Its number, from 1 (what `account targets remove` takes).
    number: usize,
    /// `github-actions`, `ssm`, `webhook` …
    #[serde(rename = "type")]
    kind: &'static str,
    /// Where it delivers.
    description: String,
    /// The target as stored (never a secret: tokens and keys are named by where they are read).
    target: Target,
}

impl TargetRow {
    fn of(i: usize, t: &Target) -> Self {
        Self { number: i + 1, kind: t.kind(), description: sink_for(t).describe(), target: t.clone() }
    }
}

impl Tabular for TargetRow {
    fn headers() -> Vec<&'static str> {
        vec!["number", "type", "description"]
    }
    fn cells(&self) -> Vec<String> {
        vec![self.number.to_string(), self.kind.into(), self.description.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<Target> {
        vec![
            Target::Ssm { name: "/ci/key".into(), format: None },
            Target::SecretsManager { secret_id: "ci/app".into(), format: None },
            Target::Ssm { name: "/prod/key".into(), format: None },
        ]
    }

    #[test]
    fn a_target_is_named_by_number_description_or_unique_text() {
        let t = targets();
        assert_eq!(choose(&t, "2").unwrap(), &t[1]);
        assert_eq!(choose(&t, "ssm-parameter /prod/key").unwrap(), &t[2]);
        assert_eq!(choose(&t, "ci/app").unwrap(), &t[1]);
        assert_eq!(choose(&t, "/ci/").unwrap(), &t[0]);
    }

    #[test]
    fn a_spec_that_names_none_or_several_is_refused() {
        let t = targets();
        for (spec, class) in [
            ("0", rekey_engine::ErrorClass::NotFound),
            ("4", rekey_engine::ErrorClass::NotFound),
            ("gitlab", rekey_engine::ErrorClass::NotFound),
            ("", rekey_engine::ErrorClass::NotFound),
            ("ssm-parameter", rekey_engine::ErrorClass::Usage),
        ] {
            assert_eq!(choose(&t, spec).unwrap_err().class(), class, "{spec:?}");
        }
        assert_eq!(choose(&[], "1").unwrap_err().class(), rekey_engine::ErrorClass::NotFound);
    }
}
