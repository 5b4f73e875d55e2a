//! What every paged list answers (`{items, next_cursor, total, total_exact}`) and how its
//! `limit`, `cursor` and `count` parameters are read.

use crate::error::{ApiError, ApiResult};
use rekey_domain::Whole;
use rekey_store::listing::{Count, Cursor, KeyKind, Page, TOTAL_CAP};
use serde::{Deserializer, Serialize};
use utoipa::ToSchema;

/// The largest page.
pub const MAX_LIMIT: i64 = 500;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// How many items match the filters, on every page together. A filtered total is counted
    /// up to 10,000 unless `count=exact` asks for every match: when `total_exact` is false,
    /// `total` is 10,000 and at least that many match.
    pub total: i64,
    /// Whether `total` is the exact number of matches (always, unfiltered or with
    /// `count=exact`); false when counting stopped at 10,000.
    pub total_exact: bool,
}

impl<T> Paged<T> {
    /// The answer for `page`, its items turned by `f`.
    pub fn of<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next.map(|c| c.encode()),
            total: page.total,
            total_exact: page.total_exact,
        }
    }
}

/// The `limit` parameter: how many items a page holds.
pub const LIMIT: Whole = Whole::new(1, MAX_LIMIT.unsigned_abs(), 100, "a page holds", "items");

/// Reads `limit` from the query string (`#[serde(deserialize_with)]`): a whole number in
/// [`LIMIT`], refused with the range and an example otherwise.
pub fn limit_param<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    LIMIT.optional_text(d)
}

/// The page size: `limit` as read by [`limit_param`], or 100.
pub fn limit(value: Option<i64>) -> i64 {
    value.unwrap_or(100)
}

/// `count`: absent, a filtered total stops at [`TOTAL_CAP`]; `exact`, every match is counted.
pub fn count(value: Option<&str>) -> ApiResult<Count> {
    match value {
        None => Ok(Count::default()),
        Some("exact") => Ok(Count::Exact),
        Some(other) => Err(ApiError::bad_request(
            format!("count={other:?} is not allowed"),
            format!(
                "use count=exact to count every match, or leave count out (a filtered total then stops at {TOTAL_CAP})"
            ),
        )),
    }
}

/// The `cursor` of a listing sorted by `sort` (keys of `kind`), if one was given.
pub fn cursor(value: Option<&str>, sort: &str, kind: KeyKind) -> ApiResult<Option<Cursor>> {
    value
        .map(|text| {
            Cursor::decode(text, sort, kind).map_err(|why| {
                ApiError::bad_request(
                    format!("cursor: {why}"),
                    "pass the next_cursor of the previous page of the same listing, or no cursor for the first page",
                )
            })
        })
        .transpose()
}
