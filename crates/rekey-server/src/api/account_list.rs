//! `GET /api/v1/accounts` (one page of the accounts in the token's folders, filtered and
//! sorted by the store; a filtered total counted up to 10,000 unless `count=exact`) and
//! `GET /api/v1/overview` (the counts that need action, each exact and equal to the `total` of
//! the account list with the matching filter and `count=exact`).

use super::{
    paged::{self, Paged},
    require,
};
use crate::{
    auth::{Action, Caller},
    error::{ApiError, ApiResult, ErrorBody},
    AppState,
};
use axum::{extract::State, Extension, Json};
use chrono::{DateTime, Utc};
use rekey_domain::{AccountStatus, CredentialKind, Spelled};
use rekey_store::listing::{AccountItem, AccountPage, AccountQuery, AccountSort, HeartbeatFilter, Order};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filters, sort and paging of the account list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many, 1 to 500 (default 100).
    #[serde(default, deserialize_with = "paged::limit_param")]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `exact`: count every match for `total` (without it a filtered total stops at 10,000,
    /// `total_exact` false).
    count: Option<String>,
    /// A case-insensitive substring of `PROVIDER/USER/KIND` or of the title.
    q: Option<String>,
    /// Only this provider.
    provider: Option<String>,
    /// Only this folder and its sub-folders.
    folder: Option<String>,
    /// `access_key` (or `access-key`) or `password`.
    kind: Option<String>,
    /// Only this status: `ok`, `needs-rotation` or `no-secret`.
    status: Option<String>,
    /// `ok`, `failing` (failed or drift) or `never`.
    heartbeat: Option<String>,
    /// Only accounts whose rotation is (`true`) or is not (`false`) due.
    overdue: Option<bool>,
    /// `foreign`: accounts whose user holds a key no account of this vault owns (last heartbeat).
    owner: Option<String>,
    /// Only the account holding this access key id (current or earlier).
    key_id: Option<String>,
    /// Only passwords that are (`true`) or are not (`false`) checked out.
    checked_out: Option<bool>,
    /// `failed`: accounts whose last rotation aborted or stopped with an error.
    rotation: Option<String>,
    /// `name` (default), `due`, `age` or `last_rotated`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
}

fn bad(name: &str, value: &str, allowed: &str) -> ApiError {
    ApiError::bad_request(format!("{name}={value:?} is not allowed"), format!("use {name}={allowed}"))
}

/// `value` as one of `options` (its spelling → the value), or 400.
fn one_of<T: Copy>(name: &str, value: Option<&str>, options: &[(&str, T)]) -> ApiResult<Option<T>> {
    let Some(v) = value else { return Ok(None) };
    let found = options.iter().find(|(s, _)| *s == v).map(|(_, t)| *t);
    let allowed = options.iter().map(|(s, _)| *s).collect::<Vec<_>>().join("|");
    found.map(Some).ok_or_else(|| bad(name, v, &allowed))
}

impl ListQuery {
    /// The store's query (without provider visibility, which the handler checks).
    fn filters(&self, caller: &Caller) -> ApiResult<AccountQuery> {
        let kinds = [
            ("access_key", CredentialKind::AccessKey),
            ("access-key", CredentialKind::AccessKey),
            ("password", CredentialKind::Password),
        ];
        let statuses: Vec<(&str, AccountStatus)> = AccountStatus::ALL.iter().map(|s| (s.as_str(), *s)).collect();
        let beats =
            [("ok", HeartbeatFilter::Ok), ("failing", HeartbeatFilter::Failing), ("never", HeartbeatFilter::Never)];
        if self.status.as_deref() == Some(AccountStatus::TAMPERED) {
            // Listed accounts show it, but it is found as rows are read, not stored: no filter.
            return Err(ApiError::bad_request(
                "status=tampered cannot be filtered on: an altered account is found when its row is read, and its \
                 stored status is one of ok|needs-rotation|no-secret",
                "list without the status filter (altered accounts show status tampered), or run `rekey audit verify`",
            ));
        }
        if let Some(q) = &self.q {
            if q.chars().count() > 200 || q.chars().any(char::is_control) {
                return Err(ApiError::bad_request("q is at most 200 printable characters", "shorten the search"));
            }
        }
        Ok(AccountQuery {
            scope: caller.scope(),
            q: self.q.clone().filter(|q| !q.is_empty()),
            folder: self.folder.as_deref().map(str::parse).transpose()?,
            kind: one_of("kind", self.kind.as_deref(), &kinds)?,
            status: one_of("status", self.status.as_deref(), &statuses)?,
            heartbeat: one_of("heartbeat", self.heartbeat.as_deref(), &beats)?,
            overdue: self.overdue,
            foreign_keys: one_of("owner", self.owner.as_deref(), &[("foreign", true)])?.unwrap_or(false),
            key_id: self.key_id.clone(),
            checked_out: self.checked_out,
            rotation_failed: one_of("rotation", self.rotation.as_deref(), &[("failed", true)])?.unwrap_or(false),
            ..Default::default()
        })
    }

    fn page(&self) -> ApiResult<AccountPage> {
        let sorts = [AccountSort::Name, AccountSort::Due, AccountSort::Age, AccountSort::LastRotated];
        let sorts: Vec<(&str, AccountSort)> = sorts.iter().map(|s| (s.as_str(), *s)).collect();
        let sort = one_of("sort", self.sort.as_deref(), &sorts)?.unwrap_or_default();
        let order = one_of("order", self.order.as_deref(), &[("asc", Order::Asc), ("desc", Order::Desc)])?;
        let order = order.unwrap_or_default();
        let after = paged::cursor(self.cursor.as_deref(), &AccountPage::cursor_name(sort, order), sort.key_kind())?;
        let count = paged::count(self.count.as_deref())?;
        Ok(AccountPage { sort, order, limit: paged::limit(self.limit), after, count })
    }
}

/// One page of the accounts in the token's folders, with what needs attention on each.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(ListQuery),
    responses((status = 200, description = "A page of accounts", body = Paged<AccountItem>),
        (status = 400, description = "A parameter out of range or unknown", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    super::extract::Params(q): super::extract::Params<ListQuery>,
) -> ApiResult<Json<Paged<AccountItem>>> {
    require(&caller, Action::Read)?;
    let mut query = q.filters(&caller)?;
    let page = q.page()?;
    if let Some(p) = q.provider.as_deref() {
        query.provider = Some(super::providers::visible(&s, &caller, &p.parse()?).await?.name);
    }
    Ok(Json(Paged::of(s.engine.account_page(query, &page).await?, |item| item)))
}

/// An age bucket of the overview's chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgeBucket {
    /// `0-30`, `31-60`, `61-90` or `90+` (days since the last rotation, or since added).
    pub bucket: &'static str,
    /// Accounts in it.
    pub count: i64,
}

/// Accounts per kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct ByKind {
    /// Access keys.
    pub access_key: i64,
    /// Console passwords.
    pub password: i64,
}

/// What needs action, over the accounts in the token's folders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewBody {
    /// Accounts in the token's folders, whatever their state.
    pub accounts: i64,
    /// Due for rotation (`overdue=true`).
    pub overdue: i64,
    /// Last heartbeat failed or found drift (`heartbeat=failing`).
    pub heartbeat_failing: i64,
    /// Last rotation aborted or stopped with an error (`rotation=failed`).
    pub rotations_failed: i64,
    /// The user holds keys nobody in this vault owns (`owner=foreign`).
    pub foreign_keys: i64,
    /// Passwords checked out (`checked_out=true`).
    pub checked_out: i64,
    /// Accounts per kind.
    pub by_kind: ByKind,
    /// Credentials by age.
    pub age_days: Vec<AgeBucket>,
    /// When the counts were taken.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub report_at: DateTime<Utc>,
}

/// The counts that need action, each exact: the `total` of the account list with its filter and
/// `count=exact`.
#[utoipa::path(get, path = "/api/v1/overview", tag = "accounts",
    responses((status = 200, description = "The counts", body = OverviewBody)))]
pub async fn overview(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<OverviewBody>> {
    require(&caller, Action::Read)?;
    let (o, report_at) = s.engine.overview(caller.scope()).await?;
    let names = ["0-30", "31-60", "61-90", "90+"];
    Ok(Json(OverviewBody {
        accounts: o.accounts,
        overdue: o.overdue,
        heartbeat_failing: o.heartbeat_failing,
        rotations_failed: o.rotations_failed,
        foreign_keys: o.foreign_keys,
        checked_out: o.checked_out,
        by_kind: ByKind { access_key: o.access_keys, password: o.passwords },
        age_days: names.iter().zip(o.age_days).map(|(bucket, count)| AgeBucket { bucket, count }).collect(),
        report_at,
    }))
}
