//! `rekey audit list`: read the hash-chained audit log.

use crate::{
    cli::{AuditCmd, Format, Global},
    context, output,
    views::AuditView,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rekey_domain::error::quote;
use rekey_engine::{Error, Result};

pub async fn run(global: &Global, format: Format, cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::List { since, limit } => {
            if !(1..=1_000_000).contains(&limit) {
                return Err(Error::usage(format!("--limit {limit} is out of range"), "use 1 to 1000000"));
            }
            let engine = context::engine(global).await?;
            let since = since.map(|s| parse_since(&s, engine.clock().now())).transpose()?;
            let events = engine.audit_events(since, limit).await?;
            let views: Vec<AuditView> = events.into_iter().map(AuditView).collect();
            output::list(format, &views);
        }
        AuditCmd::Verify { expect_head, expect_count } => {
            if let Some(h) =
                expect_head.as_deref().filter(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(Error::usage(
                    format!("--expect-head {} is not a head hash", quote(h)),
                    "pass the 64 hex digits `rekey audit verify` or `rekey audit head` printed",
                ));
            }
            if expect_count.is_some_and(|n| n < 0) {
                return Err(Error::usage(
                    "--expect-count must not be negative",
                    "pass the event count printed earlier",
                ));
            }
            let anchor = rekey_engine::Anchor { head: expect_head, count: expect_count };
            let report = context::engine(global).await?.verify_audit_against(&anchor).await?;
            output::one(format, &Verified(report));
        }
        AuditCmd::Head => {
            let report = context::engine(global).await?.verify_audit().await?;
            output::one(format, &Verified(report));
        }
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
struct Verified(rekey_engine::ChainReport);

impl output::Tabular for Verified {
    fn headers() -> Vec<&'static str> {
        vec!["events", "head", "status"]
    }
    fn cells(&self) -> Vec<String> {
        vec![self.0.events.to_string(), self.0.head.clone(), self.0.status.into()]
    }
}

/// RFC 3339, a date, or an age such as `30m`, `12h`, `7d`.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let bad = || {
        Error::usage(
            format!("{} is not a time", quote(s)),
            "use RFC 3339, a date (2026-01-31) or an age (30m, 12h, 7d)",
        )
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(now - age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_ages_dates_and_timestamps() {
        let now = DateTime::parse_from_rfc3339("2026-05-10T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_since("2h", now).unwrap(), now - Duration::hours(2));
        assert_eq!(parse_since("2026-05-01", now).unwrap().to_rfc3339(), "2026-05-01T00:00:00+00:00");
        assert_eq!(parse_since("2026-05-01T10:00:00Z", now).unwrap().to_rfc3339(), "2026-05-01T10:00:00+00:00");
        for bad in ["", "yesterday", "5y", "h"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
