//! `rekey audit …`: read the hash-chained audit log newest first, a page at a time, and verify
//! the chain.
//!
//! Paging is by sequence number: `--before SEQ` walks back to older events, `--after SEQ`
//! forward to newer ones; a time (RFC 3339, a date, an age) stands for the first event at or
//! after it. A page that is not the last ends, on standard error, with the command that prints
//! the next one. Records go to standard output in every format, so JSON stays an array of
//! events whatever the paging.

use crate::{
    cli::{whole, Format, Global},
    context, output,
    views::AuditView,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::Subcommand;
use rekey_domain::{error::quote, Whole};
use rekey_engine::{Engine, Error, Result};
use rekey_store::{
    listing::{AuditQuery, Count, Cursor, CursorKey},
    AuditRecord,
};

/// How many events one `audit list` prints (`--limit`).
const LIMIT: Whole = Whole::new(1, 10_000, 100, "audit list prints", "events");
/// Events `audit list` prints without `--limit`.
const DEFAULT_LIMIT: i64 = 100;
/// `--expect-count`.
const COUNT: Whole = Whole::at_least(0, 120, "the chain holds", "events");

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit events, newest first, a page at a time
    List {
        /// Only events before this one: a sequence number, or a time (RFC 3339, a date
        /// 2026-01-31, or an age 30m, 12h, 7d) meaning the first event at or after it
        #[arg(long, value_name = "SEQ|TIME")]
        before: Option<String>,
        /// Only events after this one (as for --before); the page is the events right after
        /// it, to walk forward
        #[arg(long, value_name = "SEQ|TIME", visible_alias = "since")]
        after: Option<String>,
        /// At most this many events, 1 to 10000
        #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT, value_parser = whole::<i64>(LIMIT))]
        limit: i64,
    },
    /// Walk the hash chain and report the first broken link (exit 8 if there is one), and the
    /// head and event count to keep outside the database as anchors
    Verify {
        /// The head hash printed by an earlier verify (or sent with an export batch): exit 8
        /// unless an event of the chain still has it
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
        /// The event count printed by an earlier verify: exit 8 if the chain holds fewer
        #[arg(long, value_name = "N", value_parser = whole::<i64>(COUNT))]
        expect_count: Option<i64>,
    },
    /// Print the chain's head hash and event count (the anchor to keep outside the database)
    Head,
}

pub async fn run(global: &Global, format: Format, cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::List { before, after, limit } => {
            let before = before.as_deref().map(|b| Position::parse("--before", b)).transpose()?;
            let after = after.as_deref().map(|a| Position::parse("--after", a)).transpose()?;
            if let (Some(Position::Seq(b)), Some(Position::Seq(a))) = (&before, &after) {
                if b <= &(a + 1) {
                    return Err(Error::usage(
                        format!("--after {a} --before {b} leave no event between them"),
                        "give --before a larger sequence number than --after",
                    ));
                }
            }
            let engine = context::engine(global).await?;
            let page = list(&engine, before, after, limit).await?;
            let views: Vec<AuditView> = page.events.into_iter().map(AuditView).collect();
            output::list(format, &views);
            if let Some(next) = page.next {
                errln!("More events exist; the next page: {next}");
            }
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

/// Where a page starts or ends.
#[derive(Debug, Clone)]
enum Position {
    /// A sequence number.
    Seq(i64),
    /// A time (the first event at or after it).
    Time(String),
}

impl Position {
    /// A sequence number (digits only) or, checked when the vault is open, a time.
    fn parse(flag: &str, s: &str) -> Result<Self> {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return s.parse().map(Self::Seq).map_err(|_| {
                Error::usage(
                    format!("{flag} {}: no event has so large a number", quote(s)),
                    "use a seq from audit list",
                )
            });
        }
        // Checked here, so that a bad time is refused before the vault is opened.
        parse_since(s, rekey_domain::Clock::now(&rekey_domain::SystemClock))?;
        Ok(Self::Time(s.to_owned()))
    }

    /// The sequence number it stands for: a time is the first event at or after it (the one
    /// after the newest event if there is none).
    async fn seq(&self, engine: &Engine) -> Result<i64> {
        match self {
            Self::Seq(n) => Ok(*n),
            Self::Time(t) => {
                let at = parse_since(t, engine.clock().now())?;
                match engine.audit_events(Some(at), 1).await?.first() {
                    Some(e) => Ok(e.seq),
                    None => Ok(engine.audit_head().await? + 1),
                }
            }
        }
    }
}

/// A page of events, newest first, and the command that prints the next one.
struct Listed {
    events: Vec<AuditRecord>,
    next: Option<String>,
}

/// Without `--after`, the `limit` newest events before `before` (the next page is older);
/// with it, the `limit` events right after `after` and before `before` (the next page is
/// newer). Both are shown newest first.
async fn list(engine: &Engine, before: Option<Position>, after: Option<Position>, limit: i64) -> Result<Listed> {
    let upper = match &before {
        Some(p) => Some(p.seq(engine).await?),
        None => None,
    };
    let Some(after) = after else {
        let cursor = upper.map(|seq| Cursor { sort: "seq".into(), key: CursorKey::Int(seq), id: String::new() });
        let page = engine.audit_log_page(&AuditQuery::default(), limit, cursor.as_ref(), Count::Exact).await?;
        let oldest = page.items.last().map(|e| e.seq);
        let next = oldest
            .filter(|_| page.next.is_some())
            .map(|seq| format!("rekey audit list --before {seq} --limit {limit}"));
        return Ok(Listed { events: page.items, next });
    };
    // A time stands for the first event at or after it, which this page includes.
    let lower = match &after {
        Position::Seq(n) => *n,
        Position::Time(_) => after.seq(engine).await? - 1,
    };
    let mut events: Vec<AuditRecord> =
        engine.audit_page(lower, limit + 1).await?.into_iter().filter(|e| upper.is_none_or(|u| e.seq < u)).collect();
    let more = i64::try_from(events.len()).unwrap_or(i64::MAX) > limit;
    events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let newest = events.last().map(|e| e.seq);
    let bound = upper.map(|u| format!(" --before {u}")).unwrap_or_default();
    let next = newest.filter(|_| more).map(|seq| format!("rekey audit list --after {seq}{bound} --limit {limit}"));
    events.reverse();
    Ok(Listed { events, next })
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
    now.checked_sub_signed(age).ok_or_else(bad)
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
        for bad in ["", "yesterday", "5y", "h", "100000000d"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
