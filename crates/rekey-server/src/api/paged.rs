//! What every paged list answers (`{items, next_cursor, total}`) and how its `limit` and
//! `cursor` parameters are read.

use super::extract::in_range;
use crate::error::{ApiError, ApiResult};
use rekey_store::listing::{Cursor, Page};
use serde::Serialize;
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
    /// How many items match the filters, on every page together.
    pub total: i64,
}

impl<T> Paged<T> {
    /// The answer for `page`, its items turned by `f`.
    pub fn of<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next.map(|c| c.encode()),
            total: page.total,
        }
    }
}

/// `limit`, 1 to [`MAX_LIMIT`] (default 100).
pub fn limit(value: Option<i64>) -> ApiResult<i64> {
    in_range("limit", value.unwrap_or(100), 1..=MAX_LIMIT)
}

/// The `cursor` of a listing sorted by `sort`, if one was given.
pub fn cursor(value: Option<&str>, sort: &str) -> ApiResult<Option<Cursor>> {
    value
        .map(|text| {
            Cursor::decode(text, sort).map_err(|why| {
                ApiError::bad_request(
                    format!("cursor: {why}"),
                    "pass the next_cursor of the previous page of the same listing, or no cursor for the first page",
                )
            })
        })
        .transpose()
}
