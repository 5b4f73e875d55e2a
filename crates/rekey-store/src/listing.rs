//! Paged, filtered and sorted views for front ends: the account list with the facts an
//! operator acts on (overdue, heartbeat, last rotation, check-out), the counts of the overview,
//! and the rotation journal and the audit log newest first. Everything is filtered, counted and
//! sorted in SQL, so a page costs the same at 100 accounts as at 100,000.
//!
//! Paging is by key (a [`Cursor`] names the sort key and id of the last item handed out), so
//! a page never repeats or skips an item because others were added meanwhile. A filtered
//! page's total is counted up to [`TOTAL_CAP`] unless its caller asks for every match
//! ([`Count`]), so the total never costs more than the page. [`ListStore`] is
//! a supertrait of [`crate::Store`]; `SqlStore` implements it for both backends
//! (`listing_sql.rs`).

use crate::{Account, AuditRecord, Result, Rotation};
use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, AccountStatus, CredentialKind, Folder, JournalOutcome, Phase, ProviderName};
use serde::Serialize;

/// What the account list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountSort {
    /// The IAM user name (then the id).
    #[default]
    Name,
    /// When the next rotation is due (never due last).
    Due,
    /// The credential's age: since its last rotation, or since it was added (youngest first).
    Age,
    /// When it was last rotated (never rotated first).
    LastRotated,
}

impl AccountSort {
    /// Its spelling in queries and cursors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Due => "due",
            Self::Age => "age",
            Self::LastRotated => "last_rotated",
        }
    }

    /// The kind of its cursors' keys.
    pub fn key_kind(self) -> KeyKind {
        if self == Self::Name {
            KeyKind::Text
        } else {
            KeyKind::Int
        }
    }

    /// The sort spelt `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Name, Self::Due, Self::Age, Self::LastRotated].into_iter().find(|v| v.as_str() == s)
    }
}

/// Heartbeat states to filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatFilter {
    /// The last heartbeat found nothing.
    Ok,
    /// The last heartbeat failed or found drift.
    Failing,
    /// No heartbeat yet.
    Never,
}

/// Which accounts a listing or an overview covers. Every field narrows; the default is all.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Only accounts in these folders and their sub-folders (`None`: every account, also
    /// those in no folder). A token confined to folders passes its folders here, so its counts
    /// and its items agree.
    pub scope: Option<Vec<Folder>>,
    /// A case-insensitive substring of `PROVIDER/USER/KIND` or of the title.
    pub q: Option<String>,
    /// Only this provider.
    pub provider: Option<ProviderName>,
    /// Only this folder and its sub-folders.
    pub folder: Option<Folder>,
    /// Only this kind.
    pub kind: Option<CredentialKind>,
    /// Only this status.
    pub status: Option<AccountStatus>,
    /// Only this heartbeat state.
    pub heartbeat: Option<HeartbeatFilter>,
    /// Only accounts whose next rotation is (`true`) or is not (`false`) due at `now`.
    pub overdue: Option<bool>,
    /// Only accounts whose user holds a key no account of this vault owns (per the last
    /// heartbeat).
    pub foreign_keys: bool,
    /// Only the account holding this access key id (in any of its secret versions).
    pub key_id: Option<String>,
    /// Only accounts whose password is (`true`) or is not (`false`) checked out.
    pub checked_out: Option<bool>,
    /// Only accounts whose last rotation aborted, or stopped with an error unfinished.
    pub rotation_failed: bool,
    /// The time `overdue` is judged at.
    pub now: DateTime<Utc>,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// One page request of the account list.
#[derive(Debug, Clone, Default)]
pub struct AccountPage {
    /// Sorted by.
    pub sort: AccountSort,
    /// Ascending or descending on `sort`.
    pub order: Order,
    /// At most this many items.
    pub limit: i64,
    /// The items after this one (from the previous page's [`Page::next`]).
    pub after: Option<Cursor>,
    /// How far its total is counted.
    pub count: Count,
}

impl AccountPage {
    /// What its cursors name: the sort and the direction (a cursor of another listing is
    /// refused).
    pub fn cursor_name(sort: AccountSort, order: Order) -> String {
        format!("{}.{}", sort.as_str(), if order == Order::Asc { "asc" } else { "desc" })
    }
}

/// Where a page ends: the sort key and id of its last item. Opaque to clients (`encode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// What the listing was sorted by (a cursor of another sort is refused).
    pub sort: String,
    /// The last item's sort key.
    pub key: CursorKey,
    /// The last item's id (ties of the sort key are ordered by id).
    pub id: String,
}

/// Which kind of sort key a listing's cursors carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// [`CursorKey::Int`].
    Int,
    /// [`CursorKey::Text`].
    Text,
}

/// A sort key value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    /// A number (times in ms, sequence numbers).
    Int(i64),
    /// A name.
    Text(String),
}

impl Cursor {
    /// The opaque text handed to clients: base64 of the sort, the key and the id.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            CursorKey::Int(n) => format!("i{n}"),
            CursorKey::Text(t) => format!("t{t}"),
        };
        URL_SAFE_NO_PAD.encode(format!("{}\u{1f}{}\u{1f}{key}", self.sort, self.id))
    }

    /// Reads a cursor handed out for a listing sorted by `sort`, whose keys are of `kind`; what
    /// is wrong with it otherwise (a key of the other kind would compare a name with a number).
    pub fn decode(text: &str, sort: &str, kind: KeyKind) -> std::result::Result<Self, String> {
        let bad = || "the cursor is not one this listing handed out".to_owned();
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '\u{1f}');
        let (Some(s), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
        if s != sort {
            return Err(format!("the cursor belongs to a listing sorted by {s}, not by {sort}"));
        }
        let key = match (key.split_at_checked(1), kind) {
            (Some(("i", n)), KeyKind::Int) => CursorKey::Int(n.parse().map_err(|_| bad())?),
            (Some(("t", t)), KeyKind::Text) => CursorKey::Text(t.to_owned()),
            _ => return Err(bad()),
        };
        Ok(Self { sort: s.to_owned(), key, id: id.to_owned() })
    }
}

/// Where the count of a filtered listing stops by default: past it, a page's total is this
/// number and says it is not exact. Counting every match of a filter that matches most of a
/// 100,000-account vault visits every entry of an index (about 4 ms in SQLite), more than the
/// page itself costs; a capped count reads at most 10,001 entries however large the vault.
/// 10,000 is also where GitLab caps its totals, and more than anyone pages through. An
/// unfiltered total is always exact: counting a whole table is cheap (about 30 µs).
pub const TOTAL_CAP: i64 = 10_000;

/// How a page's total is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Every match, however many (a bulk action's confirmation, the CLI).
    Exact,
    /// Matches up to this many; past it the total is this many and not exact.
    AtMost(i64),
    /// No total (0, not exact): the caller reads the items only, and the page costs one
    /// statement.
    Uncounted,
}

impl Default for Count {
    /// Up to [`TOTAL_CAP`].
    fn default() -> Self {
        Self::AtMost(TOTAL_CAP)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// How many items match the filters (ignoring the cursor); when not `total_exact`, at
    /// least this many (the cap of a [`Count::AtMost`]).
    pub total: i64,
    /// Whether `total` counts every match (false: counting stopped at the cap).
    pub total_exact: bool,
}

/// The last rotation of an account, in short.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRotation {
    /// The rotation.
    pub id: String,
    /// Where it stands.
    pub phase: Phase,
    /// How it ended, or that it has not.
    pub outcome: JournalOutcome,
    /// When it finished.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it aborted or stopped.
    pub error: Option<String>,
}

impl LastRotation {
    /// The summary of `r`.
    pub fn of(r: &Rotation) -> Self {
        Self {
            id: r.id.clone(),
            phase: r.phase,
            outcome: JournalOutcome::of(r.phase, r.error.is_some()),
            finished_at: r.finished_at,
            error: r.error.clone(),
        }
    }
}

/// An account as listed: the record plus what an operator acts on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountItem {
    /// The account, its status `tampered` when its row failed its integrity check.
    #[serde(flatten, serialize_with = "shown_account")]
    pub account: Account,
    /// `PROVIDER/USER/KIND`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Whether its next rotation is due.
    pub overdue: bool,
    /// Who holds its password checked out, if anyone (`token:ID`, or `cli:USER@HOST`).
    pub checked_out_by: Option<String>,
    /// The name of the token holding it checked out (when a token does).
    pub checked_out_by_name: Option<String>,
    /// Its last rotation, if any.
    pub last_rotation: Option<LastRotation>,
}

/// `a` as listed: with the status `tampered` in place of the stored one when its row failed its
/// integrity check (the CLI and the API show it alike; nothing acts on such an account), and
/// only the settings of its kind (`AccountSettings::shown_for`).
fn shown_account<S: serde::Serializer>(a: &Account, s: S) -> std::result::Result<S::Ok, S::Error> {
    let settings = a.settings.shown_for(a.kind);
    if a.tampered.is_none() && matches!(settings, std::borrow::Cow::Borrowed(_)) {
        return a.serialize(s);
    }
    let mut v = serde_json::to_value(a).map_err(serde::ser::Error::custom)?;
    if a.tampered.is_some() {
        v["status"] = AccountStatus::TAMPERED.into();
    }
    v["settings"] = settings.into_owned();
    v.serialize(s)
}

impl AccountItem {
    /// `account` as seen at `now`, with its open check-out holder and last rotation.
    pub fn new(account: Account, now: DateTime<Utc>, holder: Option<Holder>, last: Option<&Rotation>) -> Self {
        let reference = format!("{}/{}/{}", account.provider, account.user_name, account.kind.as_str());
        let (checked_out_by, checked_out_by_name) = holder.map_or((None, None), |h| (Some(h.actor), h.name));
        Self {
            overdue: account.next_due_at.is_some_and(|d| d <= now),
            reference,
            account,
            checked_out_by,
            checked_out_by_name,
            last_rotation: last.map(LastRotation::of),
        }
    }
}

/// Who holds a password checked out: the actor of the check-out and, for a token, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `token:ID` or `cli:USER@HOST`.
    pub actor: String,
    /// The token's name, when the actor is a token the vault knows.
    pub name: Option<String>,
}

impl Holder {
    /// The token id of a `token:ID` actor.
    pub fn token_id(actor: &str) -> Option<&str> {
        actor.strip_prefix("token:")
    }
}

/// One stored version of an account's secret, as front ends list it: never the secret, nor
/// its sealed form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// 1, 2, … in the order they were stored.
    pub version: i64,
    /// `pending`, `current`, `previous` or `retired`.
    pub state: rekey_domain::SecretState,
    /// The access key id the secret belongs to (access keys only).
    pub key_id: Option<String>,
    /// `adopted` (supplied by an operator) or `created` (by a rotation).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub origin: crate::Origin,
    /// When it was stored.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

impl VersionInfo {
    /// The facts of `v`, without its sealed secret.
    pub fn of(v: &crate::SecretVersion) -> Self {
        Self {
            version: v.version,
            state: v.state,
            key_id: v.key_id.clone(),
            origin: v.origin,
            created_at: v.created_at,
        }
    }
}

/// The counts of the overview, each equal to the total of the account list with the
/// matching filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Every account, whatever its state (the unfiltered list's total).
    pub accounts: i64,
    /// `overdue`.
    pub overdue: i64,
    /// `heartbeat = failing`.
    pub heartbeat_failing: i64,
    /// `rotation_failed`.
    pub rotations_failed: i64,
    /// `foreign_keys`.
    pub foreign_keys: i64,
    /// `checked_out = true`.
    pub checked_out: i64,
    /// Access-key accounts.
    pub access_keys: i64,
    /// Password accounts.
    pub passwords: i64,
    /// Credentials by age since their last rotation (or since added): 0–30 days, 31–60,
    /// 61–90, over 90.
    pub age_days: [i64; 4],
}

/// Which rotations a journal page shows.
#[derive(Debug, Clone, Default)]
pub struct RotationQuery {
    /// Only rotations of accounts in these folders (see [`AccountQuery::scope`]).
    pub scope: Option<Vec<Folder>>,
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Only those with this outcome (see [`LastRotation::outcome`]).
    pub outcome: Option<JournalOutcome>,
    /// Only those in this phase.
    pub phase: Option<Phase>,
}

/// Which audit events a page shows.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only events about this object.
    pub target: Option<String>,
}

/// The front ends' listings.
#[async_trait]
pub trait ListStore: Send + Sync {
    /// One page of the accounts matching `q`.
    async fn account_page(&self, q: &AccountQuery, page: &AccountPage) -> Result<Page<AccountItem>>;
    /// One account as the list shows it at `now` (its check-out holder and last rotation
    /// joined in one statement); `None` if there is no such account.
    async fn account_item(&self, id: &AccountId, now: DateTime<Utc>) -> Result<Option<AccountItem>>;
    /// The overview's counts over the accounts `q` covers (only its scope is read).
    async fn overview(&self, q: &AccountQuery) -> Result<Overview>;
    /// One page of the rotation journal, newest first, its total counted as `count` says.
    async fn rotation_page(
        &self,
        q: &RotationQuery,
        limit: i64,
        after: Option<&Cursor>,
        count: Count,
    ) -> Result<Page<Rotation>>;
    /// One page of the audit log, newest first, its total counted as `count` says.
    async fn audit_log_page(
        &self,
        q: &AuditQuery,
        limit: i64,
        after: Option<&Cursor>,
        count: Count,
    ) -> Result<Page<AuditRecord>>;
    /// The metrics' account gauges at `now`, counted as the list counts its filters.
    async fn account_gauges(&self, now: DateTime<Utc>) -> Result<AccountGauges>;
}

/// What the metrics say about the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountGauges {
    /// `overdue`: due by now.
    pub overdue: i64,
    /// `heartbeat = failing`.
    pub heartbeat_failing: i64,
    /// The last successful rotation of every account that has one, in no particular order.
    pub last_success: Vec<LastSuccess>,
}

/// An account's last successful rotation, with the columns that name the account (as stored:
/// read for the metrics' labels, not decoded into an [`Account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    /// The account's id.
    pub id: String,
    /// Its provider's name.
    pub provider: String,
    /// Its IAM user name.
    pub user_name: String,
    /// Its credential kind.
    pub kind: String,
    /// When its last rotation finished.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_hand_out() {
        for (key, kind, other) in [
            (CursorKey::Int(-42), KeyKind::Int, KeyKind::Text),
            (CursorKey::Text("a\u{1f}b/c".into()), KeyKind::Text, KeyKind::Int),
        ] {
            let c = Cursor { sort: "due".into(), key, id: "abc".into() };
            assert_eq!(Cursor::decode(&c.encode(), "due", kind).expect("round trip"), c);
            assert!(Cursor::decode(&c.encode(), "name", kind).is_err(), "another sort");
            assert!(Cursor::decode(&c.encode(), "due", other).is_err(), "a key of the other kind");
        }
        for bad in ["", "!!", "Zm9v", &URL_SAFE_NO_PAD.encode("due\u{1f}id\u{1f}x1")] {
            assert!(Cursor::decode(bad, "due", KeyKind::Int).is_err(), "{bad:?}");
        }
    }
}
