//! What `account show` and `provider show` print in a table beyond a list's columns: the
//! rotation settings in words (schedule, previous-key policy, retirement, verification,
//! password rules, delivery targets) and a provider's way of signing in. Only table output
//! uses these lines; JSON and CSV print the record itself. Nothing here can hold a secret: a
//! target is described by where it delivers, a token or key by where it is read from.

use crate::{
    output::{opt, time},
    views::{AccountView, ProviderView},
};
use rekey_domain::{duration::human_ms, CredentialKind, PastDeadline, PreviousKeyPolicy, Retirement, RotationSettings};
use rekey_engine::{delivery::sink_for, Engine};
use rekey_store::ProviderAuth;

/// A labelled line of a record shown alone.
pub type Row = (&'static str, String);

/// `account show`: the account, what it is doing, then its settings.
pub fn account_rows(v: &AccountView) -> Vec<Row> {
    let item = &v.0;
    let a = &item.account;
    let mut rows: Vec<Row> = vec![
        ("id", a.id.to_string()),
        ("ref", item.reference.clone()),
        ("folder", opt(a.folder.as_ref())),
        ("title", opt(a.title.clone())),
        ("status", v.status_shown()),
        ("arn", a.arn.to_string()),
        ("user id", a.user_id.clone()),
        ("current key", opt(a.current_key_id.clone())),
        ("version", opt(a.current_version)),
        ("last rotated", opt(a.last_rotated_at.map(time))),
        ("next due", due(a.next_due_at.map(time), item.overdue)),
        ("heartbeat", heartbeat(a.heartbeat.as_ref())),
        ("last rotation", opt(item.last_rotation.as_ref().map(|r| format!("{} {} ({})", r.id, r.outcome, r.phase)))),
    ];
    if a.kind == CredentialKind::Password {
        rows.push(("checked out by", opt(item.checked_out_by.clone())));
    }
    match Engine::settings_of(a) {
        Ok(s) => rows.extend(settings_rows(s, a.kind)),
        Err(e) => rows.push(("settings", format!("not valid: {e}"))),
    }
    rows.push(("created", time(a.created_at)));
    rows.push(("updated", time(a.updated_at)));
    rows
}

fn due(at: Option<String>, overdue: bool) -> String {
    match at {
        Some(t) if overdue => format!("{t} (overdue)"),
        Some(t) => t,
        None => "- (no schedule)".into(),
    }
}

fn heartbeat(hb: Option<&rekey_store::Heartbeat>) -> String {
    let Some(hb) = hb else { return "never".into() };
    let findings = hb.detail["findings"].as_array().map_or(0, Vec::len);
    match findings {
        0 => format!("{} at {}", hb.status, time(hb.at)),
        n => format!("{} at {} ({n} finding(s): rekey heartbeat shows them)", hb.status, time(hb.at)),
    }
}

/// The settings in words; options of the other credential kind are left out.
pub fn settings_rows(s: &RotationSettings, kind: CredentialKind) -> Vec<Row> {
    let mut rows: Vec<Row> = vec![("schedule", schedule(s)), ("max age", opt(s.max_age_ms.map(human_ms)))];
    match kind {
        CredentialKind::AccessKey => {
            rows.push(("previous key", previous_key(s)));
            rows.push(("retirement", retirement(s)));
            let v = &s.verify;
            rows.push((
                "verification",
                format!(
                    "{} consecutive success(es), first backoff {}, give up after {}",
                    v.successes,
                    human_ms(v.backoff_ms),
                    human_ms(v.deadline_ms)
                ),
            ));
            rows.extend(targets(s));
        }
        CredentialKind::Password => {
            rows.push(("password", password(s)));
            let create = if s.create_login_profile { "yes" } else { "no" };
            rows.push(("create login", create.into()));
        }
    }
    rows
}

fn schedule(s: &RotationSettings) -> String {
    match (s.every_ms, &s.cron) {
        (Some(every), Some(cron)) => format!("every {}, and on cron {cron} (UTC)", human_ms(every)),
        (Some(every), None) => format!("every {}", human_ms(every)),
        (None, Some(cron)) => format!("cron {cron} (UTC)"),
        (None, None) => "none (rotated by `rekey rotate` or when marked due)".into(),
    }
}

fn after(ms: u64) -> String {
    if ms == 0 {
        "at once".into()
    } else {
        format!("after {}", human_ms(ms))
    }
}

fn previous_key(s: &RotationSettings) -> String {
    match s.previous_key {
        PreviousKeyPolicy::Deactivate => {
            format!("deactivate {} (kept inactive for rollback)", after(s.deactivate_after_ms))
        }
        PreviousKeyPolicy::Delete => {
            format!("deactivate {}, then delete {}", after(s.deactivate_after_ms), after(s.delete_after_ms))
        }
        PreviousKeyPolicy::Keep => "keep (left active)".into(),
    }
}

fn retirement(s: &RotationSettings) -> String {
    let unused = if s.retire_only_if_unused { "; only if IAM shows it unused since the cut-over" } else { "" };
    match s.retirement {
        Retirement::Grace => format!("after the grace periods{unused}"),
        Retirement::Confirmed => {
            let deadline = s.cutover_deadline_ms.unwrap_or(rekey_domain::settings::DEFAULT_CUTOVER_DEADLINE_MS);
            let past = match s.cutover_past_deadline {
                PastDeadline::Wait => "keep waiting",
                PastDeadline::Proceed => "retire anyway",
            };
            format!("confirmed cut-over: wait up to {} for evidence, then {past}{unused}", human_ms(deadline))
        }
    }
}

fn password(s: &RotationSettings) -> String {
    let p = &s.password;
    let classes: Vec<&str> = [(p.uppercase, "upper case"), (p.lowercase, "lower case"), (p.numbers, "digits")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    let symbols = if p.symbols { format!("symbols from {}", p.symbol_set) } else { "no symbols".into() };
    format!("{} characters: {}, {symbols}", p.length, classes.join(", "))
}

fn targets(s: &RotationSettings) -> Vec<Row> {
    if s.targets.is_empty() {
        return vec![("targets", "none (rekey account reveal prints the key)".into())];
    }
    s.targets
        .iter()
        .enumerate()
        .map(|(i, t)| (if i == 0 { "targets" } else { "" }, format!("{}. {}", i + 1, sink_for(t).describe())))
        .collect()
}

/// `provider show`: how the provider signs in, where, and how many accounts use it.
pub fn provider_rows(v: &ProviderView, accounts: i64) -> Vec<Row> {
    let p = &v.0;
    let mut rows: Vec<Row> = vec![("name", p.name.to_string()), ("region", p.region.to_string())];
    match &p.auth {
        ProviderAuth::StaticKey { access_key_id } => {
            rows.push(("auth", "static access key (its secret is sealed in the vault)".into()));
            rows.push(("access key id", access_key_id.clone()));
        }
        ProviderAuth::DefaultChain => {
            rows.push(("auth", "the AWS default credential chain of the process running rekey".into()));
        }
        ProviderAuth::AssumeRole { role_arn, external_id, source } => {
            rows.push(("auth", "assume role".into()));
            rows.push(("role arn", role_arn.to_string()));
            rows.push(("external id", opt(external_id.clone())));
            let from =
                source.as_ref().map_or_else(|| "the AWS default credential chain".into(), |s| format!("provider {s}"));
            rows.push(("source", from));
        }
    }
    rows.push(("endpoint url", p.endpoint_url.clone().unwrap_or_else(|| "- (AWS)".into())));
    if let Some(mfa) = &p.mfa_serial {
        rows.push(("mfa serial", mfa.clone()));
    }
    rows.push(("accounts", accounts.to_string()));
    rows.push(("created", time(p.created_at)));
    rows.push(("updated", time(p.updated_at)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use rekey_domain::Target;

    fn text(rows: &[Row]) -> String {
        rows.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }

    #[test]
    fn access_key_settings_read_as_sentences() {
        let mut s = RotationSettings { every_ms: Some(90 * 86_400_000), ..Default::default() };
        s.previous_key = PreviousKeyPolicy::Delete;
        s.deactivate_after_ms = 86_400_000;
        s.delete_after_ms = 7 * 86_400_000;
        s.targets.push(Target::Ssm { name: "/ci/key".into(), format: None });
        let shown = text(&settings_rows(&s, CredentialKind::AccessKey));
        for part in [
            "schedule: every 90 days",
            "previous key: deactivate after 1 day, then delete after 7 days",
            "retirement: after the grace periods",
            "verification: 3 consecutive success(es), first backoff 1 s, give up after 2 min",
            "targets: 1. ssm-parameter /ci/key",
        ] {
            assert!(shown.contains(part), "{part:?} not in\n{shown}");
        }
        assert!(!shown.contains("password"), "password rules are not shown for an access key:\n{shown}");
    }

    #[test]
    fn password_settings_leave_out_what_only_keys_have() {
        let s = RotationSettings { cron: Some("0 3 1 * *".into()), ..Default::default() };
        let shown = text(&settings_rows(&s, CredentialKind::Password));
        assert!(shown.contains("schedule: cron 0 3 1 * * (UTC)"), "{shown}");
        assert!(shown.contains("password: 32 characters: upper case, lower case, digits"), "{shown}");
        for key_only in ["previous key", "verification", "targets"] {
            assert!(!shown.contains(key_only), "{key_only} shown for a password:\n{shown}");
        }
    }

    #[test]
    fn no_schedule_and_confirmed_cutover_are_spelt_out() {
        let mut s = RotationSettings { retirement: Retirement::Confirmed, ..Default::default() };
        s.cutover_past_deadline = PastDeadline::Proceed;
        s.retire_only_if_unused = true;
        let shown = text(&settings_rows(&s, CredentialKind::AccessKey));
        assert!(shown.contains("schedule: none"), "{shown}");
        assert!(shown.contains("wait up to 14 days for evidence, then retire anyway; only if IAM shows"), "{shown}");
        assert!(shown.contains("previous key: deactivate at once"), "{shown}");
        assert!(shown.contains("targets: none"), "{shown}");
    }
}
