//! `rekey discover`: every IAM user and credential of the providers, how each relates to the
//! vault, and (with `--import`) accounts for what is not managed yet.

use crate::{
    cli::{DiscoverArgs, Format, Global},
    cmd::rotate,
    context,
    output::{self, opt, time, Tabular},
    views::AccountView,
};
use rekey_engine::{
    discover::{Discovery, FoundUser, ImportOptions, Mode, Tags},
    Result, RotateOptions,
};
use serde::Serialize;
use std::sync::Arc;

pub async fn run(global: &Global, format: Format, a: DiscoverArgs) -> Result<()> {
    let tags = Tags { exempt: a.exempt_tag, owner: a.owner_tag };
    let mode = if a.per_user { Mode::PerUser } else { Mode::Auto };
    let engine =
        Arc::new(if a.import { context::engine_for_write(global).await? } else { context::engine(global).await? });
    let mut providers = a.providers;
    if a.all {
        providers.extend(engine.providers().await?.into_iter().map(|p| p.name));
    }
    let mut seen = std::collections::HashSet::new();
    providers.retain(|p| seen.insert(p.clone()));
    let mut found: Vec<Discovery> = Vec::new();
    for p in &providers {
        let d = engine.discover_observed(p, mode, &tags, &progress_bar(p.as_str())).await?;
        finish_progress();
        errln!(
            "{}: {} user(s) via the {} path, {} API call(s), {} ms",
            d.provider,
            d.users.len(),
            d.path,
            d.api_calls,
            d.duration_ms
        );
        found.push(d);
    }
    if !a.import {
        match format {
            Format::Json => output::json_out(&found),
            _ => output::list(format, &found.iter().flat_map(|d| d.users.iter().map(UserRow)).collect::<Vec<_>>()),
        }
        return Ok(());
    }
    let opts = ImportOptions { kinds: a.kind.kinds(), folder: a.folder, filter: a.filter };
    let (mut imported, mut skipped) = (Vec::new(), Vec::new());
    for d in &found {
        let done = engine.import(d, &opts).await?;
        imported.extend(done.accounts);
        skipped.extend(done.skipped);
    }
    for s in &skipped {
        errln!("skipped {}/{}/{}: {}", s.provider, s.user_name, s.kind, s.reason);
    }
    errln!("imported {} account(s), skipped {} held by someone else", imported.len(), skipped.len());
    let now = engine.clock().now();
    let views: Vec<AccountView> = imported.iter().map(|a| AccountView::fresh(a, now)).collect();
    let reports = if a.reset_on_import && !imported.is_empty() {
        engine.rotate_many(imported, RotateOptions::default(), false, 4).await
    } else {
        vec![]
    };
    if format == Format::Json {
        output::json_out(&serde_json::json!({ "imported": views, "skipped": skipped, "rotations": reports }));
    } else {
        output::list(format, &views);
        if !reports.is_empty() {
            rotate::print_reports(format, &reports, false);
        }
    }
    rotate::check_reports(&reports)
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct UserRow<'a>(&'a FoundUser);

impl Tabular for UserRow<'_> {
    fn headers() -> Vec<&'static str> {
        vec!["provider", "user", "password", "mfa", "keys", "owner", "exempt", "accounts"]
    }
    fn cells(&self) -> Vec<String> {
        let u = self.0;
        let password = if u.password_enabled {
            let whose = u.password_ownership.map(|o| format!(" {o}")).unwrap_or_default();
            let why = u.password_ownership_detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
            format!("yes (changed {}){whose}{why}", opt(u.password_last_changed.map(time)))
        } else {
            "no".into()
        };
        let keys = u
            .keys
            .iter()
            .map(|k| {
                let state = if k.active { "active" } else { "inactive" };
                let why = k.ownership_detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                format!("{} {state} {}{why}", k.id.as_deref().unwrap_or("(key)"), k.ownership)
            })
            .collect::<Vec<_>>()
            .join("; ");
        vec![
            u.provider.clone(),
            u.user_name.clone(),
            password,
            opt(u.mfa_active),
            if keys.is_empty() { "-".into() } else { keys },
            opt(u.owner.clone()),
            u.exempt.to_string(),
            if u.accounts.is_empty() { "-".into() } else { u.accounts.join(", ") },
        ]
    }
}

/// A progress bar on stderr when it is a terminal (nothing when piped).
fn progress_bar(label: &str) -> impl Fn(usize, usize) + Sync + '_ {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |done, total| {
        if tty && (done % 25 == 0 || done == total) {
            let width = 30;
            let filled = (width * done).checked_div(total).unwrap_or(width).min(width);
            err!("\r{label}: [{}{}] {done}/{total} users", "#".repeat(filled), " ".repeat(width - filled));
        }
    }
}

fn finish_progress() {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        err!("\r\x1b[K");
    }
}
