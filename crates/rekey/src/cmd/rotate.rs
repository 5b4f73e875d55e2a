//! `rekey rotate` and `rekey recover`, and what the commands acting on a selection of accounts
//! share: parsing the selection, resolving it, printing rotation reports and deciding the exit
//! code from them.

use crate::{
    cli::{Format, Global, RotateArgs, Selection},
    context,
    output::{self, opt, Tabular},
};
use rekey_domain::Outcome;
use rekey_engine::{AccountRef, Engine, Error, ErrorClass, Failure, Result, RotateOptions, RotationReport};
use rekey_store::{Account, AccountFilter};
use serde::Serialize;
use std::sync::Arc;

/// Parses a selection (before the vault is opened).
pub struct Parsed {
    refs: Vec<AccountRef>,
    filter: Option<AccountFilter>,
    pub concurrency: usize,
}

impl Parsed {
    /// Whether the selection names its accounts one by one (no --all, --folder or --provider).
    pub fn named_only(&self) -> bool {
        self.filter.is_none()
    }
}

pub fn parse_selection(s: &Selection) -> Result<Parsed> {
    let refs = s.accounts.iter().map(|a| a.parse()).collect::<Result<Vec<AccountRef>>>()?;
    let filter = (s.all || s.folder.is_some() || s.provider.is_some()).then(|| AccountFilter {
        folder: s.folder.as_ref().and_then(|f| f.parse().ok()),
        provider: s.provider.as_ref().and_then(|p| p.parse().ok()),
    });
    if let Some(f) = &s.folder {
        f.parse::<rekey_domain::Folder>()?;
    }
    if let Some(p) = &s.provider {
        p.parse::<rekey_domain::ProviderName>()?;
    }
    Ok(Parsed { refs, filter, concurrency: usize::from(s.concurrency) })
}

/// The accounts a selection names, each once, in order.
pub async fn resolve(engine: &Engine, p: &Parsed) -> Result<Vec<Account>> {
    let mut out: Vec<Account> = Vec::new();
    for r in &p.refs {
        out.push(engine.account(r).await?);
    }
    if let Some(f) = &p.filter {
        let found = engine.accounts(f).await?;
        if let (Some(folder), true) = (&f.folder, found.is_empty()) {
            // Folders exist only through their accounts: an empty one is a misspelt one.
            return Err(Error::NotFound {
                what: format!("an account in folder {folder}"),
                hint: "`rekey account list` shows the accounts and their folders".into(),
            });
        }
        out.extend(found);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(a.id.clone()));
    Ok(out)
}

pub async fn rotate(global: &Global, format: Format, args: RotateArgs) -> Result<()> {
    let sel = parse_selection(&args.selection)?;
    // A dry run changes nothing, not even by recovering earlier rotations.
    let engine =
        Arc::new(if args.dry_run { context::engine(global).await? } else { context::engine_for_write(global).await? });
    let accounts = resolve(&engine, &sel).await?;
    say_capped(&engine, &accounts, sel.concurrency);
    let opts =
        RotateOptions { reclaim_foreign: args.reclaim_foreign, force_checkout: args.force, ..Default::default() };
    let shown = crate::progress::show(engine.progress(), "rotate");
    let reports = engine.rotate_many(accounts, opts, args.dry_run, sel.concurrency).await;
    if let Some(s) = shown {
        s.done().await;
    }
    print_reports(format, &reports, args.dry_run);
    check_reports(&reports)
}

/// Tells the operator when `--concurrency` will not be reached because of a per-provider cap.
pub fn say_capped(engine: &Engine, accounts: &[Account], concurrency: usize) {
    if let Some(why) = rekey_engine::batch::capped(engine, accounts, concurrency) {
        errln!("note: {why}");
    }
}

pub async fn recover(global: &Global, format: Format) -> Result<()> {
    let engine = context::engine(global).await?;
    let shown = crate::progress::show(engine.progress(), "recover");
    let reports = engine.recover().await;
    if let Some(s) = shown {
        s.done().await;
    }
    let reports = reports?;
    if reports.is_empty() && format == Format::Table {
        errln!("No unfinished rotations.");
        return Ok(());
    }
    print_reports(format, &reports, false);
    check_reports(&reports)
}

pub fn print_reports(format: Format, reports: &[RotationReport], dry_run: bool) {
    if dry_run && format == Format::Table {
        for r in reports {
            outln!("{} ({}): {}", r.reference, r.account, r.outcome);
            for step in &r.plan {
                outln!("  - {step}");
            }
            if let (true, Some(e)) = (r.plan.is_empty(), &r.error) {
                outln!("  - {e}");
            }
        }
        return;
    }
    let views: Vec<ReportView> = reports.iter().map(|r| ReportView(r.clone())).collect();
    output::list(format, &views);
    if format == Format::Table {
        // Keys the rotations left alone because they are not theirs (another vault's, or made
        // by a later state of this vault): worth knowing, not an error.
        for r in reports {
            for note in &r.foreign_keys {
                errln!("note: {}: key {note}", r.reference);
            }
        }
    }
}

/// Fails with the findings class when any rotation did not complete, decided by the class of
/// the error each report carries (never by its message): a refusal because stored data failed
/// its integrity check gives the integrity class, so that an altered vault is not mistaken for
/// a failed rotation; a vault that cannot be written (read-only, disk full) gives the storage
/// class, so that it is not mistaken for failing rotations. When the only rotations that did
/// not complete were refused because another worker held their accounts ([`Error::Busy`]), the
/// class is conflict, as for every other command refused that way: nothing failed, nothing was
/// done to them, and the same command succeeds once the other worker has finished.
pub fn check_reports(reports: &[RotationReport]) -> Result<()> {
    let bad = reports.iter().filter(|r| !r.succeeded()).count();
    let class_of = |r: &RotationReport| r.failure.as_ref().map(|f| f.class);
    let altered =
        reports.iter().filter(|r| r.outcome == Outcome::Refused && class_of(r) == Some(ErrorClass::Integrity)).count();
    if altered > 0 {
        return Err(Error::Integrity {
            message: format!(
                "{altered} of {} account(s) failed their integrity check and were left alone ({} did not complete); \
                 see the output above",
                reports.len(),
                bad
            ),
        });
    }
    if let Some((r, failure)) =
        reports.iter().filter_map(|r| r.failure.as_ref().map(|f| (r, f))).find(|(_, f)| f.class == ErrorClass::Storage)
    {
        return Err(Error::Reported { message: r.error.clone().unwrap_or_default(), failure: failure.clone() });
    }
    // The one account asked for, refused for a conflict that left it alone (a password someone
    // has checked out): its own words and hint, the conflict class.
    if let [r @ RotationReport { outcome: Outcome::Refused, failure: Some(failure), .. }] = reports {
        if failure.class == ErrorClass::Conflict {
            return Err(Error::Reported { message: r.error.clone().unwrap_or_default(), failure: failure.clone() });
        }
    }
    let busy: Vec<(&RotationReport, &Failure)> =
        reports.iter().filter_map(|r| r.failure.as_ref().filter(|f| f.busy).map(|f| (r, f))).collect();
    if bad > busy.len() {
        return Err(Error::Findings(format!(
            "{bad} of {} rotation(s) did not complete; see the output above",
            reports.len()
        )));
    }
    match (busy.as_slice(), reports.len()) {
        ([], _) => Ok(()),
        // The one account asked for: its own words, naming the rotation under way.
        ([(r, failure)], 1) => {
            Err(Error::Reported { message: r.error.clone().unwrap_or_default(), failure: (*failure).clone() })
        }
        (busy, of) => Err(Error::Busy {
            what: format!(
                "{} of {of} account(s) were left alone: another rekey worker holds them (see the output above)",
                busy.len()
            ),
            hint: "nothing was done to them; `rekey rotation list --open` shows the rotations under way; run the \
                   command again once they have finished"
                .into(),
            rotation: None,
        }),
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct ReportView(RotationReport);

impl Tabular for ReportView {
    fn headers() -> Vec<&'static str> {
        vec!["account", "ref", "outcome", "phase", "new_key_id", "old_key_id", "ms", "error"]
    }
    fn cells(&self) -> Vec<String> {
        let r = &self.0;
        vec![
            r.account.clone(),
            r.reference.clone(),
            r.outcome.to_string(),
            opt(r.phase.clone()),
            opt(r.new_key_id.clone()),
            opt(r.old_key_id.clone()),
            r.duration_ms.to_string(),
            opt(r.error.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Outcome, error: Option<&str>, class: Option<ErrorClass>) -> RotationReport {
        RotationReport {
            account: "a1b2c3d4".into(),
            reference: "p/svc/access-key".into(),
            rotation: None,
            outcome,
            phase: None,
            new_key_id: None,
            old_key_id: None,
            phases: vec![],
            duration_ms: 0,
            error: error.map(str::to_owned),
            failure: class.map(|class| Failure { class, hint: Some("what to do".into()), busy: false }),
            waiting: None,
            plan: vec![],
            throttled: 0,
            paced_ms: 0,
            propagation_ms: None,
            foreign_keys: vec![],
        }
    }

    fn class_of(reports: &[RotationReport]) -> Option<ErrorClass> {
        check_reports(reports).err().map(|e| e.class())
    }

    #[test]
    fn the_exit_class_follows_the_class_of_the_error_not_its_words() {
        let done = report(Outcome::Done, None, None);
        assert_eq!(class_of(std::slice::from_ref(&done)), None);
        let altered = report(Outcome::Refused, Some("account a1b2c3d4 was altered"), Some(ErrorClass::Integrity));
        assert_eq!(class_of(&[done.clone(), altered]), Some(ErrorClass::Integrity));
        let read_only = report(Outcome::Interrupted, Some("the vault is read-only"), Some(ErrorClass::Storage));
        let e = check_reports(&[done.clone(), read_only]).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Storage);
        assert_eq!(e.to_string(), "the vault is read-only");
        assert_eq!(e.hint().as_deref(), Some("what to do"));
        // The words of an integrity or storage error, quoted by an error of another class (an
        // AWS or receiver message): a rotation that did not complete, nothing more.
        for (words, class) in [
            ("iam:GetUser failed: the policy failed its integrity check", ErrorClass::Auth),
            ("the vault cannot be written: said the webhook receiver", ErrorClass::Upstream),
            ("the vault's disk is full: said the webhook receiver", ErrorClass::Upstream),
        ] {
            let quoted = report(Outcome::Refused, Some(words), Some(class));
            assert_eq!(class_of(&[done.clone(), quoted]), Some(ErrorClass::Findings), "{words}");
        }
        let aborted = report(Outcome::Aborted, Some("the new key did not work"), None);
        assert_eq!(class_of(&[aborted]), Some(ErrorClass::Findings));
    }

    fn busy() -> RotationReport {
        let mut r = report(Outcome::Refused, Some("rotation rot_1 of account a1b2c3d4 is under way"), None);
        r.failure = Some(Failure { class: ErrorClass::Conflict, hint: Some("follow it".into()), busy: true });
        r
    }

    #[test]
    fn accounts_another_worker_holds_are_a_conflict_unless_something_failed() {
        let done = report(Outcome::Done, None, None);
        // One account asked for: its own words and hint, the conflict class.
        let e = check_reports(&[busy()]).unwrap_err();
        assert_eq!((e.class(), e.is_busy()), (ErrorClass::Conflict, true));
        assert_eq!(e.to_string(), "rotation rot_1 of account a1b2c3d4 is under way");
        assert_eq!(e.hint().as_deref(), Some("follow it"));
        // Several: counted, still a conflict when the rest completed.
        let e = check_reports(&[done.clone(), busy(), busy()]).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Conflict);
        assert!(e.to_string().starts_with("2 of 3 account(s) were left alone"), "{e}");
        assert!(e.hint().is_some_and(|h| h.contains("rotation list --open")), "{e:?}");
        // Anything else that did not complete wins: the findings class.
        let conflict = report(Outcome::Refused, Some("checked out"), Some(ErrorClass::Conflict));
        let e = check_reports(std::slice::from_ref(&conflict)).unwrap_err();
        assert_eq!((e.class(), e.to_string()), (ErrorClass::Conflict, "checked out".to_owned()), "alone: a conflict");
        assert_eq!(class_of(&[done.clone(), conflict.clone()]), Some(ErrorClass::Findings), "among others: findings");
        assert_eq!(class_of(&[busy(), conflict]), Some(ErrorClass::Findings));
        let aborted = report(Outcome::Aborted, Some("the new key did not work"), None);
        assert_eq!(class_of(&[aborted, busy()]), Some(ErrorClass::Findings));
        // And an altered account wins over both.
        let altered = report(Outcome::Refused, Some("altered"), Some(ErrorClass::Integrity));
        assert_eq!(class_of(&[busy(), altered]), Some(ErrorClass::Integrity));
    }
}
