//! The queries of [`crate::listing::ListStore`], for both backends: `SqlStore<B>` implements
//! it once, generic over the [`Backend`] (whose `fetch_built` runs an assembled statement).
//! Statements are assembled with sqlx's `QueryBuilder`, which numbers the placeholders for each
//! dialect. Every filter is one predicate function used by the list, its count and the
//! overview alike, so an overview count and the total of the matching filtered list cannot
//! disagree. The three listings count their totals one way (`total`: exact when unfiltered,
//! else up to a cap unless asked for every match).

use crate::gather::{Waiter, GATHER_MAX};
use crate::listing::*;
use crate::rows::{account_from_row, audit_from_row, parse_col, rotation_from_row};
use crate::sql::{Backend, SqlStore};
use crate::{from_millis, millis, model::*, Barrier, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, Folder, JournalOutcome};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, QueryBuilder, Row, Type};
use std::collections::HashMap;
use tokio::sync::oneshot::error::RecvError;

/// A statement being assembled for backend `B`.
type Qb<B> = QueryBuilder<'static, <B as Backend>::Db>;

/// A read of one account's list item waiting to be answered (`gather`).
type ItemRead = Waiter<AccountId, DateTime<Utc>, Result<Option<AccountItem>>>;

/// The last rotation of account `a` (by start, then id).
const LAST_ROTATION: &str = "(SELECT r0.id FROM rotations r0 WHERE r0.account_id = a.id \
    ORDER BY r0.started_at DESC, r0.id DESC LIMIT 1)";
const ACCOUNT_PAGE_SELECT: &str = "SELECT a.id, a.provider, a.user_name, a.user_id, a.arn, a.kind, \
    a.folder, a.title, a.status, a.settings, a.created_at, a.updated_at, s.version AS current_version, \
    s.key_id AS current_key_id, s.origin AS current_origin, s.mac AS current_mac, a.mac, \
    a.last_rotated_at, a.next_due_at, a.heartbeat_at, a.heartbeat_status, a.heartbeat_detail, \
    c.holder AS checked_out_by, t.name AS checked_out_by_name, lr.id AS lr_id, \
    lr.account_id AS lr_account_id, lr.kind AS lr_kind, lr.phase AS lr_phase, lr.error AS lr_error, lr.finished_at AS lr_finished_at";
const ACCOUNT_PAGE_FROM: &str = " FROM accounts a \
    LEFT JOIN secret_versions s ON s.record_id = a.id AND s.state = 'current' \
    LEFT JOIN checkouts c ON c.account_id = a.id AND c.ended_at IS NULL \
    LEFT JOIN api_tokens t ON c.holder LIKE 'token:%' AND t.id = substr(c.holder, 7)";
const ROTATION_COLS: &str = "r.id, r.account_id, r.kind, r.phase, r.old_key_id, r.new_key_id, \
    r.old_version, r.new_version, r.data, r.error, r.started_at, r.updated_at, r.finished_at";
const AUDIT_COLS: &str = "seq, at, actor, action, target, outcome, detail, prev_hash, hash";

/// The accounts with an open check-out: a set read once through the partial index
/// `checkouts_open`, not a look-up per account.
const CHECKED_OUT: &str = "a.id IN (SELECT c1.account_id FROM checkouts c1 WHERE c1.ended_at IS NULL)";

/// The accounts whose last rotation aborted or stopped with an error unfinished: the
/// few unsettled rotations (partial index `rotations_unsettled`, migration 0009, on
/// this very predicate), each kept if it is its account's last.
const ROTATION_FAILED: &str = "a.id IN (SELECT r1.account_id FROM rotations r1 \
    WHERE (r1.phase = 'aborted' OR (r1.finished_at IS NULL AND r1.error IS NOT NULL)) \
    AND r1.id = (SELECT r0.id FROM rotations r0 WHERE r0.account_id = r1.account_id \
    ORDER BY r0.started_at DESC, r0.id DESC LIMIT 1))";

/// The sort key of the account list, as an SQL expression (the listing indexes of
/// migration 0008 are on these very expressions).
fn sort_key(sort: AccountSort) -> &'static str {
    match sort {
        AccountSort::Name => "a.user_name",
        AccountSort::Due => "COALESCE(a.next_due_at, 9223372036854775807)",
        AccountSort::Age => "(0 - COALESCE(a.last_rotated_at, a.created_at))",
        AccountSort::LastRotated => "COALESCE(a.last_rotated_at, 0)",
    }
}

/// The page's items, and the cursor after the last if more follow.
fn paged<T>(mut items: Vec<(T, CursorKey, String)>, limit: i64, sort: &str) -> (Vec<T>, Option<Cursor>) {
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        items.last().map(|(_, key, id)| Cursor { sort: sort.to_owned(), key: key.clone(), id: id.clone() })
    } else {
        None
    };
    (items.into_iter().map(|(t, _, _)| t).collect(), next)
}

/// The predicates and row readers the listings share.
impl<B: Backend> SqlStore<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> bool: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: ColumnIndex<<B::Db as Database>::Row>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    /// `a` is in `folder` or below it (compared exactly: `_` is no wildcard).
    fn in_folder(qb: &mut Qb<B>, folder: &Folder) {
        let below = format!("{folder}/");
        qb.push("(a.folder = ").push_bind(folder.as_str().to_owned());
        qb.push(" OR substr(a.folder, 1, length(").push_bind(below.clone()).push(")) = ").push_bind(below);
        qb.push(")");
    }

    fn in_scope(qb: &mut Qb<B>, scope: &Option<Vec<Folder>>) {
        if let Some(folders) = scope {
            qb.push(" AND (1 = 0");
            for f in folders {
                qb.push(" OR ");
                Self::in_folder(qb, f);
            }
            qb.push(")");
        }
    }

    /// Due by `now` (`due`) or not: a range of the `accounts_by_due` index's very expression
    /// (an account never due sorts last), so a count or a page of either side is a range of
    /// that index, not a scan of the accounts.
    fn overdue(qb: &mut Qb<B>, now: i64, due: bool) {
        qb.push("COALESCE(a.next_due_at, 9223372036854775807) ");
        qb.push(if due { "<= " } else { "> " }).push_bind(now);
    }

    fn heartbeat(qb: &mut Qb<B>, h: HeartbeatFilter) {
        qb.push(match h {
            HeartbeatFilter::Ok => "(a.heartbeat_at IS NOT NULL AND a.heartbeat_status = 'ok')",
            HeartbeatFilter::Failing => "(a.heartbeat_at IS NOT NULL AND COALESCE(a.heartbeat_status, '') <> 'ok')",
            HeartbeatFilter::Never => "(a.heartbeat_at IS NULL)",
        });
    }

    /// The last heartbeat named keys nobody in this vault owns (`foreign_keys` of its
    /// detail; `unknown key` findings of heartbeats written before that field).
    fn foreign_keys(qb: &mut Qb<B>) {
        qb.push(
            "(a.heartbeat_detail LIKE '%\"foreign_keys\":[\"%' \
             OR a.heartbeat_detail LIKE '%\"unknown key %')",
        );
    }

    fn checked_out(qb: &mut Qb<B>) {
        qb.push(CHECKED_OUT);
    }

    fn rotation_failed(qb: &mut Qb<B>) {
        qb.push(ROTATION_FAILED);
    }

    /// ` AND …` for each filter of `q`.
    fn filters(qb: &mut Qb<B>, q: &AccountQuery) {
        Self::in_scope(qb, &q.scope);
        if let Some(text) = &q.q {
            let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            qb.push(" AND (lower(a.provider || '/' || a.user_name || '/' || a.kind) LIKE ");
            qb.push_bind(pattern.clone()).push(" ESCAPE '\\' OR lower(COALESCE(a.title, '')) LIKE ");
            qb.push_bind(pattern).push(" ESCAPE '\\')");
        }
        if let Some(p) = &q.provider {
            qb.push(" AND a.provider = ").push_bind(p.as_str().to_owned());
        }
        if let Some(f) = &q.folder {
            qb.push(" AND ");
            Self::in_folder(qb, f);
        }
        if let Some(k) = q.kind {
            qb.push(" AND a.kind = ").push_bind(k.as_str().to_owned());
        }
        if let Some(s) = &q.status {
            qb.push(" AND a.status = ").push_bind(s.as_str());
        }
        if let Some(h) = q.heartbeat {
            qb.push(" AND ");
            Self::heartbeat(qb, h);
        }
        if let Some(due) = q.overdue {
            qb.push(" AND ");
            Self::overdue(qb, millis(q.now), due);
        }
        if q.foreign_keys {
            qb.push(" AND ");
            Self::foreign_keys(qb);
        }
        if let Some(k) = &q.key_id {
            qb.push(" AND EXISTS (SELECT 1 FROM secret_versions k WHERE k.record_id = a.id AND k.key_id = ");
            qb.push_bind(k.clone()).push(")");
        }
        if let Some(out) = q.checked_out {
            qb.push(if out { " AND " } else { " AND NOT " });
            Self::checked_out(qb);
        }
        if q.rotation_failed {
            qb.push(" AND ");
            Self::rotation_failed(qb);
        }
    }

    /// ` AND (KEY, id) >/< (cursor)` for the page after `after`.
    fn after(qb: &mut Qb<B>, key: &str, id: &str, order: Order, after: &Option<Cursor>) {
        let Some(c) = after else { return };
        qb.push(format!(" AND ({key}, {id}) {} (", if order == Order::Asc { ">" } else { "<" }));
        match &c.key {
            CursorKey::Int(n) => qb.push_bind(*n),
            CursorKey::Text(t) => qb.push_bind(t.clone()),
        };
        qb.push(", ").push_bind(c.id.clone()).push(")");
    }

    /// The count a `SELECT COUNT(*) …` statement answers.
    async fn count(&self, mut qb: Qb<B>) -> Result<i64> {
        Ok(self.fetch_one(&mut qb).await?.try_get::<i64, _>(0)?)
    }

    /// How many rows of `from` (`TABLE alias`) the ` AND …` predicates `filter` pushes let
    /// through, counted as `count` says, and whether that is every one. Without a predicate the
    /// statement has no `WHERE`, which SQLite answers from the b-tree's page counts instead of
    /// visiting every row (30 µs instead of 1–4 ms at 100,000 accounts), so it is always exact.
    /// With one, a capped count reads at most one row past the cap: past it, the total is the
    /// cap and not exact.
    async fn total(&self, from: &str, filter: impl Fn(&mut Qb<B>) + Send, count: Count) -> Result<(i64, bool)> {
        if count == Count::Uncounted {
            return Ok((0, false));
        }
        let unfiltered = format!("SELECT 1 FROM {from} WHERE 1 = 1");
        let filtered = {
            let mut probe = Qb::<B>::new(unfiltered.clone());
            filter(&mut probe);
            probe.sql() != unfiltered
        };
        if !filtered {
            return Ok((self.count(Qb::<B>::new(format!("SELECT COUNT(*) FROM {from}"))).await?, true));
        }
        let Count::AtMost(cap) = count else {
            let mut qb = Qb::<B>::new(format!("SELECT COUNT(*) FROM {from} WHERE 1 = 1"));
            filter(&mut qb);
            return Ok((self.count(qb).await?, true));
        };
        let cap = cap.max(0);
        let mut qb = Qb::<B>::new(format!("SELECT COUNT(*) FROM ({unfiltered}"));
        filter(&mut qb);
        qb.push(" LIMIT ").push_bind(cap.saturating_add(1)).push(") capped");
        let n = self.count(qb).await?;
        Ok(if n > cap { (cap, false) } else { (n, true) })
    }

    /// `COALESCE(SUM(CASE WHEN pred THEN 1 ELSE 0 END), 0) AS name`: how many rows of one pass
    /// the predicate `pred` pushes lets through (the overview's counts and the metrics' gauges).
    fn count_where(qb: &mut Qb<B>, name: &str, pred: &dyn Fn(&mut Qb<B>)) {
        qb.push("COALESCE(SUM(CASE WHEN ");
        pred(qb);
        qb.push(format!(" THEN 1 ELSE 0 END), 0) AS {name}"));
    }

    /// A row of `ACCOUNT_PAGE_SELECT` as the list shows it at `now`.
    fn item_from_row(r: &<B::Db as Database>::Row, b: &Barrier, now: DateTime<Utc>) -> Result<AccountItem> {
        let account = account_from_row(r, b)?;
        let holder = r.try_get::<Option<String>, _>("checked_out_by")?;
        let name = r.try_get("checked_out_by_name")?;
        let holder = holder.map(|actor| Holder { actor, name });
        let mut item = AccountItem::new(account, now, holder, None);
        item.last_rotation = Self::last_rotation(r)?;
        Ok(item)
    }

    /// Answers each waiting read of one item with its row among `rows`, as of its own time.
    fn answer_items(waiting: Vec<ItemRead>, rows: &[<B::Db as Database>::Row], b: &Barrier) {
        let by_id: HashMap<String, &<B::Db as Database>::Row> =
            rows.iter().filter_map(|r| Some((r.try_get::<String, _>("id").ok()?, r))).collect();
        for w in waiting {
            let item = by_id.get(w.key.as_str()).map(|r| Self::item_from_row(r, b, w.arg)).transpose();
            w.answer(item);
        }
    }

    /// A read of one item once answered, or read alone if the statement that took it failed.
    async fn item_answered(
        &self,
        answered: std::result::Result<Result<Option<AccountItem>>, RecvError>,
        id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountItem>> {
        if let Ok(item) = answered {
            return item;
        }
        let b = self.barrier.get()?;
        let mut qb = Qb::<B>::new(ACCOUNT_PAGE_SELECT);
        qb.push(format!("{ACCOUNT_PAGE_FROM} LEFT JOIN rotations lr ON lr.id = "));
        qb.push(LAST_ROTATION).push(" WHERE a.id = ").push_bind(id.as_str().to_owned());
        let row = B::fetch_built(&mut *self.read().await?, &mut qb).await?.into_iter().next();
        row.map(|r| Self::item_from_row(&r, &b, now)).transpose()
    }

    /// The one row a statement answers (`RowNotFound` if none).
    async fn fetch_one(&self, qb: &mut Qb<B>) -> Result<<B::Db as Database>::Row> {
        let rows = B::fetch_built(&mut *self.read().await?, qb).await?;
        Ok(rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)?)
    }

    fn last_rotation(r: &<B::Db as Database>::Row) -> Result<Option<LastRotation>> {
        let Some(id) = r.try_get::<Option<String>, _>("lr_id")? else { return Ok(None) };
        let rotation = Rotation {
            id,
            account_id: parse_col(&r.try_get::<String, _>("lr_account_id")?, "rotations.account_id")?,
            kind: parse_col(&r.try_get::<String, _>("lr_kind")?, "rotations.kind")?,
            phase: parse_col(&r.try_get::<String, _>("lr_phase")?, "rotations.phase")?,
            error: r.try_get("lr_error")?,
            finished_at: r.try_get::<Option<i64>, _>("lr_finished_at")?.map(from_millis),
            old_key_id: None,
            new_key_id: None,
            old_version: None,
            new_version: None,
            data: serde_json::Value::Null,
            started_at: Default::default(),
            updated_at: Default::default(),
        };
        Ok(Some(LastRotation::of(&rotation)))
    }

    fn sort_value(r: &<B::Db as Database>::Row, sort: AccountSort) -> Result<CursorKey> {
        Ok(match sort {
            AccountSort::Name => CursorKey::Text(r.try_get("sort_key")?),
            _ => CursorKey::Int(r.try_get("sort_key")?),
        })
    }
}

#[async_trait]
impl<B: Backend> ListStore for SqlStore<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> bool: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: ColumnIndex<<B::Db as Database>::Row>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    async fn account_page(&self, q: &AccountQuery, page: &AccountPage) -> Result<Page<AccountItem>> {
        let b = self.barrier.get()?;
        let key = sort_key(page.sort);
        let dir = if page.order == Order::Asc { "ASC" } else { "DESC" };
        let mut qb = Qb::<B>::new(ACCOUNT_PAGE_SELECT);
        qb.push(format!(", {key} AS sort_key{ACCOUNT_PAGE_FROM} LEFT JOIN rotations lr ON lr.id = "));
        qb.push(LAST_ROTATION).push(" WHERE 1 = 1");
        Self::filters(&mut qb, q);
        Self::after(&mut qb, key, "a.id", page.order, &page.after);
        qb.push(format!(" ORDER BY {key} {dir}, a.id {dir} LIMIT ")).push_bind(page.limit + 1);
        let rows = B::fetch_built(&mut *self.read().await?, &mut qb).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let item = Self::item_from_row(r, &b, q.now)?;
            let id = item.account.id.to_string();
            items.push((item, Self::sort_value(r, page.sort)?, id));
        }
        let (items, next) = paged(items, page.limit, &AccountPage::cursor_name(page.sort, page.order));
        let (total, total_exact) = self.total("accounts a", |qb| Self::filters(qb, q), page.count).await?;
        Ok(Page { items, next, total, total_exact })
    }

    /// Gathered with the other reads of one item waiting at the same time (`gather`).
    async fn account_item(&self, id: &AccountId, now: DateTime<Utc>) -> Result<Option<AccountItem>> {
        let b = self.barrier.get()?;
        let (ticket, mut answer) = self.items.join(id.clone(), now);
        // Until a statement has taken this read: one that took the oldest reads only may have
        // left it waiting.
        while self.items.is_waiting(ticket) {
            let reader = tokio::select! {
                biased;
                answered = &mut answer => return self.item_answered(answered, id, now).await,
                reader = self.read() => reader?,
            };
            let waiting = self.items.take(GATHER_MAX);
            if waiting.is_empty() {
                continue;
            }
            let ids = serde_json::Value::from(waiting.iter().map(|w| w.key.as_str()).collect::<Vec<_>>());
            let (before, after) = B::JSON_TEXT_SET;
            let mut qb = Qb::<B>::new(ACCOUNT_PAGE_SELECT);
            qb.push(format!("{ACCOUNT_PAGE_FROM} LEFT JOIN rotations lr ON lr.id = "));
            qb.push(LAST_ROTATION).push(format!(" WHERE a.id IN ({before}"));
            qb.push_bind(ids.to_string()).push(format!("{after})"));
            let mut reader = reader;
            let rows = B::fetch_built(&mut *reader, &mut qb).await;
            drop(reader);
            // Unanswered (dropped), the reads of a statement that failed read alone.
            if let Ok(rows) = rows {
                Self::answer_items(waiting, &rows, &b);
            }
        }
        self.item_answered(answer.await, id, now).await
    }

    async fn overview(&self, q: &AccountQuery) -> Result<Overview> {
        let now = millis(q.now);
        let mut qb = Qb::<B>::new("SELECT COUNT(*) AS accounts");
        let sum = |qb: &mut Qb<B>, name: &str, pred: &dyn Fn(&mut Qb<B>)| {
            qb.push(", ");
            Self::count_where(qb, name, pred);
        };
        sum(&mut qb, "overdue", &|qb| Self::overdue(qb, now, true));
        sum(&mut qb, "heartbeat_failing", &|qb| Self::heartbeat(qb, HeartbeatFilter::Failing));
        sum(&mut qb, "foreign_keys", &|qb| Self::foreign_keys(qb));
        sum(&mut qb, "access_keys", &|qb| {
            qb.push("a.kind = 'access-key'");
        });
        sum(&mut qb, "passwords", &|qb| {
            qb.push("a.kind = 'password'");
        });
        let buckets = [("age0", "<= 30"), ("age1", "BETWEEN 31 AND 60"), ("age2", "BETWEEN 61 AND 90")];
        for (name, range) in buckets {
            sum(&mut qb, name, &|qb| {
                qb.push("((").push_bind(now);
                qb.push(format!(" - COALESCE(a.last_rotated_at, a.created_at)) / 86400000) {range}"));
            });
        }
        // The two counts over small sets are each one look-up per member of the set
        // (an open check-out, an unsettled rotation), not a sub-query per account.
        for (name, set) in [("rotations_failed", ROTATION_FAILED), ("checked_out", CHECKED_OUT)] {
            qb.push(format!(", (SELECT COUNT(*) FROM accounts a WHERE {set}"));
            Self::in_scope(&mut qb, &q.scope);
            qb.push(format!(") AS {name}"));
        }
        qb.push(" FROM accounts a WHERE 1 = 1");
        Self::in_scope(&mut qb, &q.scope);
        let r = self.fetch_one(&mut qb).await?;
        let n = |name: &str| -> Result<i64> { Ok(r.try_get::<i64, _>(name)?) };
        let (accounts, access_keys) = (n("accounts")?, n("access_keys")?);
        let ages = [n("age0")?, n("age1")?, n("age2")?];
        Ok(Overview {
            accounts,
            overdue: n("overdue")?,
            heartbeat_failing: n("heartbeat_failing")?,
            rotations_failed: n("rotations_failed")?,
            foreign_keys: n("foreign_keys")?,
            checked_out: n("checked_out")?,
            access_keys,
            passwords: n("passwords")?,
            // Every account is in one age bucket: the last is the rest.
            age_days: [ages[0], ages[1], ages[2], accounts - ages.iter().sum::<i64>()],
        })
    }

    async fn rotation_page(
        &self,
        q: &RotationQuery,
        limit: i64,
        after_: Option<&Cursor>,
        count: Count,
    ) -> Result<Page<Rotation>> {
        let filter = |qb: &mut Qb<B>| {
            if let Some(a) = &q.account {
                qb.push(" AND r.account_id = ").push_bind(a.as_str().to_owned());
            }
            if let Some(p) = q.phase {
                qb.push(" AND r.phase = ").push_bind(p.as_str().to_owned());
            }
            if let Some(o) = q.outcome {
                qb.push(match o {
                    JournalOutcome::Aborted => " AND r.phase = 'aborted'",
                    JournalOutcome::Done => " AND r.phase = 'done'",
                    JournalOutcome::Failed => " AND r.finished_at IS NULL AND r.error IS NOT NULL",
                    JournalOutcome::Running => " AND r.finished_at IS NULL AND r.error IS NULL",
                });
            }
            if q.scope.is_some() {
                qb.push(" AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = r.account_id");
                Self::in_scope(qb, &q.scope);
                qb.push(")");
            }
        };
        let mut qb = Qb::<B>::new(format!("SELECT {ROTATION_COLS} FROM rotations r WHERE 1 = 1"));
        filter(&mut qb);
        Self::after(&mut qb, "r.started_at", "r.id", Order::Desc, &after_.cloned());
        qb.push(" ORDER BY r.started_at DESC, r.id DESC LIMIT ").push_bind(limit + 1);
        let mut items = Vec::new();
        let rows = B::fetch_built(&mut *self.read().await?, &mut qb).await?;
        for r in &rows {
            let rotation = rotation_from_row(r)?;
            let (key, id) = (CursorKey::Int(millis(rotation.started_at)), rotation.id.clone());
            items.push((rotation, key, id));
        }
        let (items, next) = paged(items, limit, "started");
        let (total, total_exact) = self.total("rotations r", filter, count).await?;
        Ok(Page { items, next, total, total_exact })
    }

    async fn audit_log_page(
        &self,
        q: &AuditQuery,
        limit: i64,
        after_: Option<&Cursor>,
        count: Count,
    ) -> Result<Page<AuditRecord>> {
        let filter = |qb: &mut Qb<B>| {
            for (column, value) in [("actor", &q.actor), ("action", &q.action), ("target", &q.target)] {
                if let Some(v) = value {
                    qb.push(format!(" AND {column} = ")).push_bind(v.clone());
                }
            }
        };
        let mut qb = Qb::<B>::new(format!("SELECT {AUDIT_COLS} FROM audit_events WHERE 1 = 1"));
        filter(&mut qb);
        if let Some(Cursor { key: CursorKey::Int(seq), .. }) = after_ {
            qb.push(" AND seq < ").push_bind(*seq);
        }
        qb.push(" ORDER BY seq DESC LIMIT ").push_bind(limit + 1);
        let mut items = Vec::new();
        let rows = B::fetch_built(&mut *self.read().await?, &mut qb).await?;
        for r in &rows {
            let record = audit_from_row(r)?;
            let key = CursorKey::Int(record.seq);
            items.push((record, key, String::new()));
        }
        let (items, next) = paged(items, limit, "seq");
        let (total, total_exact) = self.total("audit_events", filter, count).await?;
        Ok(Page { items, next, total, total_exact })
    }

    async fn account_gauges(&self, now: DateTime<Utc>) -> Result<AccountGauges> {
        let mut qb = Qb::<B>::new("SELECT ");
        Self::count_where(&mut qb, "overdue", &|qb| Self::overdue(qb, millis(now), true));
        qb.push(", ");
        Self::count_where(&mut qb, "failing", &|qb| Self::heartbeat(qb, HeartbeatFilter::Failing));
        qb.push(" FROM accounts a");
        let counts = self.fetch_one(&mut qb).await?;
        // In the table's own order: sorting by id would look every row up through the id index.
        let mut qb = Qb::<B>::new(
            "SELECT id, provider, user_name, kind, last_rotated_at FROM accounts WHERE last_rotated_at IS NOT NULL",
        );
        let rows = B::fetch_built(&mut *self.read().await?, &mut qb).await?;
        let last_success = rows
            .iter()
            .map(|r| {
                Ok(LastSuccess {
                    id: r.try_get("id")?,
                    provider: r.try_get("provider")?,
                    user_name: r.try_get("user_name")?,
                    kind: r.try_get("kind")?,
                    at: from_millis(r.try_get("last_rotated_at")?),
                })
            })
            .collect::<Result<_>>()?;
        Ok(AccountGauges {
            overdue: counts.try_get("overdue")?,
            heartbeat_failing: counts.try_get("failing")?,
            last_success,
        })
    }
}
