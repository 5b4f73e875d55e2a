//! The compliance report: every credential of the providers (from discovery) joined with what
//! the vault knows (last rotation, heartbeat, account settings), with findings per credential
//! and a summary. The findings are [`Finding`]s (older than the maximum age, unused within the
//! window, console access without MFA, a key rekey does not manage, a failed heartbeat, an
//! imported key whose secret is unknown, a stalled rotation, a missing user).

use crate::{
    discover::{Mode, Tags},
    Engine, Result,
};
use chrono::{DateTime, Duration, Utc};
use rekey_domain::{AccountStatus, Finding, HeartbeatStatus, ProviderName};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Report thresholds.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Credentials older than this are overdue (an account's own max age takes precedence).
    pub max_age: Duration,
    /// Credentials not used within this window are unused.
    pub unused: Duration,
}

/// One credential in the report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub provider: String,
    pub user: String,
    /// `password` or `access-key`.
    pub kind: String,
    pub key_id: Option<String>,
    /// The vault account managing it, if any.
    pub account: Option<String>,
    pub owner: Option<String>,
    pub age_days: Option<i64>,
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub last_rotated: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub last_used: Option<DateTime<Utc>>,
    pub heartbeat: Option<HeartbeatStatus>,
    /// Where the account's unfinished rotation stands, when it waits for people or consumers
    /// ("waiting for consumers: new key unused for 3 d").
    pub standing: Option<String>,
    pub findings: Vec<Finding>,
}

/// The whole report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Compliance {
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub generated_at: DateTime<Utc>,
    pub max_age_days: i64,
    pub unused_days: i64,
    pub rows: Vec<Row>,
    /// Finding → number of credentials with it.
    pub findings: BTreeMap<Finding, usize>,
    /// Provider → (credentials, credentials with findings, overdue).
    pub providers: BTreeMap<String, ProviderSummary>,
    /// Age bucket label → credentials in it (`0-30`, `30-60`, `60-90`, `90-180`, `180+`, `unknown`).
    pub age_buckets: Vec<(String, usize)>,
}

/// Per-provider counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderSummary {
    pub credentials: usize,
    pub with_findings: usize,
    pub overdue: usize,
}

const BUCKETS: [(&str, i64, i64); 5] =
    [("0-30", 0, 30), ("30-60", 30, 60), ("60-90", 60, 90), ("90-180", 90, 180), ("180+", 180, i64::MAX)];

impl Engine {
    /// Builds the report for `providers` from the credential report and the vault's stored
    /// facts ([`Mode::Report`]: a handful of IAM calls per provider, whatever its size).
    pub async fn compliance(
        &self,
        providers: &[ProviderName],
        opts: &ReportOptions,
        tags: &Tags,
    ) -> Result<Compliance> {
        let now = self.clock.now();
        let standings = self.standings().await?;
        let mut rows = Vec::new();
        for p in providers {
            let d = self.discover(p, Mode::Report, tags).await?;
            let accounts =
                self.accounts(&rekey_store::AccountFilter { provider: Some(p.clone()), folder: None }).await?;
            let by_user: HashMap<(&str, &str), &rekey_store::Account> =
                accounts.iter().map(|a| ((a.user_name.as_str(), a.kind.as_str()), a)).collect();
            let users: HashSet<&str> = d.users.iter().map(|u| u.user_name.as_str()).collect();
            for u in d.users.iter().filter(|u| !u.exempt) {
                let acc = |kind: &str| by_user.get(&(u.user_name.as_str(), kind)).copied();
                if u.password_enabled {
                    let a = acc("password");
                    let mut row = Row {
                        provider: d.provider.clone(),
                        user: u.user_name.clone(),
                        kind: "password".into(),
                        key_id: None,
                        account: a.map(|a| a.id.to_string()),
                        owner: u.owner.clone(),
                        age_days: u
                            .password_last_changed
                            .or(a.and_then(|a| a.last_rotated_at))
                            .map(|t| (now - t).num_days()),
                        last_rotated: a.and_then(|a| a.last_rotated_at),
                        last_used: u.password_last_used,
                        heartbeat: a.and_then(|a| a.heartbeat.as_ref().map(|h| h.status)),
                        standing: None,
                        findings: vec![],
                    };
                    if u.mfa_active == Some(false) {
                        row.findings.push(Finding::NoMfa);
                    }
                    finish(&mut row, a, opts, now);
                    rows.push(row);
                }
                for k in &u.keys {
                    let a = acc("access-key").filter(|a| k.id.is_some() && a.current_key_id == k.id);
                    let mut row = Row {
                        provider: d.provider.clone(),
                        user: u.user_name.clone(),
                        kind: "access-key".into(),
                        key_id: k.id.clone(),
                        account: a.map(|a| a.id.to_string()),
                        owner: u.owner.clone(),
                        age_days: k.created.map(|t| (now - t).num_days()),
                        last_rotated: a.and_then(|a| a.last_rotated_at),
                        last_used: k.last_used,
                        heartbeat: a.and_then(|a| a.heartbeat.as_ref().map(|h| h.status)),
                        standing: None,
                        findings: vec![],
                    };
                    if k.ownership.unheld() && k.active {
                        row.findings.push(Finding::Foreign);
                    }
                    if !k.active {
                        continue;
                    }
                    finish(&mut row, a, opts, now);
                    stand(&mut row, a, &standings);
                    rows.push(row);
                }
            }
            // Accounts whose IAM user is gone: the vault holds a credential nothing accepts.
            for a in accounts.iter().filter(|a| !users.contains(a.user_name.as_str())) {
                let mut row = Row {
                    provider: d.provider.clone(),
                    user: a.user_name.to_string(),
                    kind: a.kind.as_str().into(),
                    key_id: a.current_key_id.clone(),
                    account: Some(a.id.to_string()),
                    owner: None,
                    age_days: a.last_rotated_at.map(|t| (now - t).num_days()),
                    last_rotated: a.last_rotated_at,
                    last_used: None,
                    heartbeat: a.heartbeat.as_ref().map(|h| h.status),
                    standing: None,
                    findings: vec![Finding::UserMissing],
                };
                heartbeat_finding(&mut row);
                rows.push(row);
            }
        }
        Ok(summarise(rows, opts, now))
    }
}

fn finish(row: &mut Row, a: Option<&rekey_store::Account>, opts: &ReportOptions, now: DateTime<Utc>) {
    let max_age = a
        .and_then(|a| crate::Engine::settings_of(a).ok())
        .and_then(|s| s.max_age_ms)
        .and_then(|ms| i64::try_from(ms).ok())
        .map_or(opts.max_age, Duration::milliseconds);
    if row.age_days.is_some_and(|d| d > max_age.num_days()) {
        row.findings.push(Finding::Overdue);
    }
    let used_recently = row.last_used.is_some_and(|t| now - t <= opts.unused);
    let old_enough = row.age_days.is_none_or(|d| d > opts.unused.num_days());
    if !used_recently && old_enough {
        row.findings.push(Finding::Unused);
    }
    heartbeat_finding(row);
    if a.is_some_and(|a| a.status == AccountStatus::NeedsRotation) {
        row.findings.push(Finding::NeedsRotation);
    }
}

/// The standing of the row's account; a rotation past its deadline for people is `stalled`.
fn stand(row: &mut Row, a: Option<&rekey_store::Account>, standings: &HashMap<String, (String, bool)>) {
    if let Some((status, stalled)) = a.and_then(|a| standings.get(a.id.as_str())) {
        row.standing = Some(status.clone());
        if *stalled {
            row.findings.push(Finding::Stalled);
        }
    }
}

fn heartbeat_finding(row: &mut Row) {
    if row.heartbeat.is_some_and(|h| h != HeartbeatStatus::Ok) {
        row.findings.push(Finding::HeartbeatFailed);
    }
}

fn summarise(rows: Vec<Row>, opts: &ReportOptions, now: DateTime<Utc>) -> Compliance {
    let mut findings: BTreeMap<Finding, usize> = BTreeMap::new();
    let mut providers: BTreeMap<String, ProviderSummary> = BTreeMap::new();
    let mut buckets: Vec<(String, usize)> = BUCKETS.iter().map(|(l, _, _)| ((*l).to_owned(), 0)).collect();
    buckets.push(("unknown".into(), 0));
    for r in &rows {
        for f in &r.findings {
            *findings.entry(*f).or_default() += 1;
        }
        let p = providers.entry(r.provider.clone()).or_default();
        p.credentials += 1;
        p.with_findings += usize::from(!r.findings.is_empty());
        p.overdue += usize::from(r.findings.contains(&Finding::Overdue));
        let i = match r.age_days {
            Some(d) => BUCKETS.iter().position(|(_, lo, hi)| d >= *lo && d < *hi).unwrap_or(0),
            None => BUCKETS.len(),
        };
        buckets[i].1 += 1;
    }
    Compliance {
        generated_at: now,
        max_age_days: opts.max_age.num_days(),
        unused_days: opts.unused.num_days(),
        rows,
        findings,
        providers,
        age_buckets: buckets,
    }
}
