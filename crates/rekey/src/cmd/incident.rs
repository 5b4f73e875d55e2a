//! `rekey incident`: selects the accounts (by account, folder, provider, and by delivery target
//! kind or text), prints the plan, asks (or takes `--yes`), then rotates them all as one
//! incident and prints one summary.

use crate::{
    cli::{Format, Global, Selection},
    cli_targets::IncidentArgs,
    cmd::rotate::{check_reports, parse_selection, print_reports, resolve},
    context, output,
};
use rekey_engine::{incident::TargetFilter, Engine, Error, Result};
use std::{io::IsTerminal, sync::Arc};

pub async fn run(global: &Global, format: Format, args: IncidentArgs) -> Result<()> {
    let only_targets = args.accounts.is_empty() && !args.all && args.folder.is_none() && args.provider.is_none();
    let selection = Selection {
        accounts: args.accounts.clone(),
        // Selecting by target alone looks through every account.
        all: args.all || only_targets,
        folder: args.folder.clone(),
        provider: args.provider.clone(),
        concurrency: args.concurrency,
    };
    let sel = parse_selection(&selection)?;
    let filter = TargetFilter { kind: args.target_kind.clone(), contains: args.target.clone() };
    let engine = Arc::new(context::engine_for_write(global).await?);
    let mut accounts = Vec::new();
    for a in resolve(&engine, &sel).await? {
        if filter.matches(&a)? {
            accounts.push(a);
        }
    }
    if accounts.is_empty() {
        return Err(Error::NotFound {
            what: "an account matching the incident's selection".into(),
            hint: "`rekey account show ID -o json` lists an account's targets; --target-kind takes their type".into(),
        });
    }
    let plan = Engine::incident_plan(&accounts)?;
    print_plan(format, &plan);
    if !args.yes && !confirmed(plan.len())? {
        return Err(Error::usage("the incident was not confirmed; nothing was rotated", "answer y, or pass --yes"));
    }
    let incident = engine.rotate_incident(accounts, args.reason.clone(), usize::from(args.concurrency)).await?;
    print_reports(format, &incident.reports, false);
    let counts: Vec<String> = incident.outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect();
    errln!("Incident {}: {} account(s): {}.", incident.id, incident.reports.len(), counts.join(", "));
    check_reports(&incident.reports)
}

fn print_plan(format: Format, plan: &[rekey_engine::incident::PlanItem]) {
    if format == Format::Json {
        errln!("{}", serde_json::json!({ "plan": plan }));
        return;
    }
    errln!("Incident plan: {} account(s) rotated at once; each previous key is deactivated as soon as the new one is delivered (no grace, no cut-over wait).", plan.len());
    for p in plan {
        let targets = if p.targets.is_empty() { "no delivery targets".to_owned() } else { p.targets.join(", ") };
        errln!("  {} ({}): replace {} → {}", p.reference, p.account, output::opt(p.current_key_id.clone()), targets);
    }
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirmed(n: usize) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "an incident rotation needs confirmation and standard input is not a terminal",
            "check the plan above, then run again with --yes",
        ));
    }
    err!("Rotate these {n} account(s) now? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Error::Internal(format!("reading the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
