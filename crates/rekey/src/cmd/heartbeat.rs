//! `rekey heartbeat`: checks that each selected account's stored credential still works and
//! that IAM has not drifted from what the vault knows (exit 9 when any check finds a problem).
//! An account a rotation works (under way, or it ran during the check) is `busy`: skipped and
//! said so when selected by --all, --folder or --provider; when every account was named, the
//! command was refused for it: exit 4 (conflict), as every command refused because another
//! worker holds the account, unless another heartbeat found a problem (exit 9).

use crate::{
    cli::{Format, Global, Selection},
    cmd::rotate::{parse_selection, resolve, say_capped},
    context,
    output::{self, time, Tabular},
    views::reference,
};
use rekey_engine::{Error, Failure, Result};
use serde::Serialize;
use std::sync::Arc;

pub async fn run(global: &Global, format: Format, s: Selection) -> Result<()> {
    let sel = parse_selection(&s)?;
    let engine = Arc::new(context::engine_for_write(global).await?);
    let accounts = resolve(&engine, &sel).await?;
    say_capped(&engine, &accounts, sel.concurrency);
    let shown = crate::progress::show(engine.progress(), "heartbeat");
    let results = engine.heartbeat_many(accounts, sel.concurrency).await;
    if let Some(s) = shown {
        s.done().await;
    }
    let views: Vec<HeartbeatView> = results
        .iter()
        .map(|(a, r)| match r {
            Ok(hb) => HeartbeatView {
                account: a.id.to_string(),
                reference: reference(a),
                status: hb.status.to_string(),
                findings: hb.detail["findings"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                at: time(hb.at),
            },
            Err(e) => HeartbeatView {
                account: a.id.to_string(),
                reference: reference(a),
                status: if e.is_busy() { "busy" } else { "error" }.into(),
                findings: vec![e.to_string()],
                at: String::new(),
            },
        })
        .collect();
    output::list(format, &views);
    let busy = views.iter().filter(|v| v.status == "busy").count();
    if busy > 0 {
        errln!(
            "note: {busy} account(s) skipped: a rotation works them (see `rekey rotation list`); the rotation's own \
             check stands, and a later heartbeat judges them as they are then"
        );
    }
    let bad = views.iter().filter(|v| v.status != "ok" && v.status != "busy").count();
    if bad > 0 {
        return Err(Error::Findings(format!("{bad} of {} heartbeat(s) found problems", views.len())));
    }
    if !sel.named_only() {
        return Ok(());
    }
    let mut held = results.iter().filter_map(|(_, r)| r.as_ref().err()).filter(|e| e.is_busy());
    match (held.next(), busy, results.len()) {
        (None, ..) => Ok(()),
        // The one account asked for: its own words, naming the rotation.
        (Some(e), 1, 1) => Err(Error::Reported { message: e.to_string(), failure: Failure::of(e) }),
        (Some(_), busy, of) => Err(Error::Busy {
            what: format!("{busy} of {of} heartbeat(s) were left alone: a rotation works those accounts"),
            hint: "nothing was stored for them; `rekey rotation list --open` shows the rotations under way; run \
                   the heartbeat again once they have finished"
                .into(),
            rotation: None,
        }),
    }
}

#[derive(Debug, Serialize)]
struct HeartbeatView {
    account: String,
    #[serde(rename = "ref")]
    reference: String,
    /// `ok`, `drift`, `failed`, `error` (the check itself could not run) or `busy` (a rotation
    /// works the account: nothing was stored).
    status: String,
    findings: Vec<String>,
    at: String,
}

impl Tabular for HeartbeatView {
    fn headers() -> Vec<&'static str> {
        vec!["account", "ref", "status", "findings"]
    }
    fn cells(&self) -> Vec<String> {
        vec![self.account.clone(), self.reference.clone(), self.status.clone(), self.findings.join("; ")]
    }
}
