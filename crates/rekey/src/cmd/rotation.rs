//! `rekey rotation …`: the rotation journal — list, show, abort, and a manual delivery's reveal
//! and confirmation.

use crate::{
    cli::{whole, Format, Global},
    cmd::rotate::{check_reports, print_reports},
    context,
    output::{self, opt, time, Tabular},
};
use clap::Subcommand;
use rekey_domain::Whole;
use rekey_engine::{AccountRef, Error, Result};
use rekey_store::Rotation;
use serde::Serialize;

/// How many rotations `rotation list` prints (`--limit`).
const LIMIT: Whole = Whole::new(1, 100_000, 100, "rotation list prints", "rotations");

#[derive(Debug, Subcommand)]
pub enum RotationCmd {
    /// List rotations, newest first
    List {
        /// Only this account
        #[arg(long)]
        account: Option<String>,
        /// Only unfinished rotations
        #[arg(long)]
        open: bool,
        /// At most this many, 1 to 100000
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = whole::<i64>(LIMIT))]
        limit: i64,
    },
    /// Show one rotation with its phases
    Show {
        /// Rotation id
        id: String,
    },
    /// Abandon an unfinished rotation that has not committed (its new key is deleted)
    Abort {
        /// Rotation id
        id: String,
    },
    /// Print the value a rotation waiting for its manual delivery needs entered (audited)
    Reveal {
        /// Rotation id
        id: String,
    },
    /// Confirm that a manual delivery is done: the rotation commits and goes on (audited)
    Confirm {
        /// Rotation id
        id: String,
    },
}

pub async fn run(global: &Global, format: Format, cmd: RotationCmd) -> Result<()> {
    match cmd {
        RotationCmd::List { account, open, limit } => {
            let r: Option<AccountRef> = account.map(|a| a.parse()).transpose()?;
            let engine = context::engine(global).await?;
            let id = match r {
                Some(r) => Some(engine.account(&r).await?.id),
                None => None,
            };
            let rots = engine.rotations(id.as_ref(), open, limit).await?;
            let views: Vec<RotationView> = rots.into_iter().map(RotationView).collect();
            output::list(format, &views);
        }
        RotationCmd::Abort { id } => {
            let engine = context::engine(global).await?;
            let report = engine.abort_rotation(&id).await?;
            print_reports(format, std::slice::from_ref(&report), false);
        }
        RotationCmd::Reveal { id } => {
            let engine = context::engine(global).await?;
            pending_out(format, &engine.reveal_pending(&id).await?);
        }
        RotationCmd::Confirm { id } => {
            let engine = context::engine(global).await?;
            let report = engine.confirm_rotation(&id).await?;
            print_reports(format, std::slice::from_ref(&report), false);
            check_reports(std::slice::from_ref(&report))?;
        }
        RotationCmd::Show { id } => {
            let engine = context::engine(global).await?;
            let rot = engine.rotation(&id).await.map_err(|e| match e {
                Error::NotFound { what, .. } => {
                    Error::NotFound { what, hint: "`rekey rotation list` shows rotation ids".into() }
                }
                other => other,
            })?;
            output::one(format, &RotationView(rot));
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct RotationView(Rotation);

impl Tabular for RotationView {
    fn headers() -> Vec<&'static str> {
        vec![
            "id",
            "account",
            "kind",
            "phase",
            "new_key_id",
            "old_key_id",
            "started_at",
            "finished_at",
            "phases",
            "error",
        ]
    }
    fn cells(&self) -> Vec<String> {
        let r = &self.0;
        let phases =
            r.data["phases"].as_array().map(|p| p.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(">"));
        vec![
            r.id.clone(),
            r.account_id.to_string(),
            r.kind.to_string(),
            r.phase.to_string(),
            opt(r.new_key_id.clone()),
            opt(r.old_key_id.clone()),
            time(r.started_at),
            opt(r.finished_at.map(time)),
            opt(phases),
            opt(r.error.clone()),
        ]
    }
}

/// The second place a secret is printed (with `account reveal`): the pending value of a manual
/// delivery, to stdout only.
fn pending_out(format: Format, p: &rekey_engine::Pending) {
    let text = zeroize::Zeroizing::new(match format {
        Format::Json | Format::Csv => serde_json::json!({
            "rotation": p.rotation, "account": p.account, "access_key_id": p.access_key_id,
            "secret": p.secret.expose(), "format": p.format, "instructions": p.instructions, "confirm_by": p.confirm_by,
        })
        .to_string(),
        Format::Table => format!(
            "account        {}\nrotation       {}\nenter at       {}\naccess key id  {}\n{:<14} {}\nconfirm by     {}\n",
            p.account,
            p.rotation,
            p.instructions,
            p.access_key_id.as_deref().unwrap_or("-"),
            p.format,
            p.secret.expose(),
            opt(p.confirm_by.map(time)),
        ),
    });
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    let _ = std::io::Write::write_all(&mut out, b"\n");
    let _ = std::io::Write::flush(&mut out);
}
