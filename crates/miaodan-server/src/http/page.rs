//! Lists: one convention for every list that can grow.
//!
//! - A list takes `limit` (1 to [`PAGE_ITEMS_MAX`], [`PAGE_ITEMS_DEFAULT`] when absent) and
//!   `cursor` (the `next_cursor` of the page before) next to its own filters, and answers
//!   `{ "items": [...], "next_cursor": "…" }`, `next_cursor` being `null` on the last page.
//! - A `limit` that is not an integer is 400 `invalid_query`; one out of range is 422
//!   `invalid_field` (never clamped: a client asking for 1 000 learns that it gets 200 at most).
//!   The list's own filters decode as every query string does (`extract::decode_query`).
//! - A cursor is opaque: it names its list and the position of the last item of its page. One
//!   that does not decode to a position of the same list is 400 `invalid_cursor`.
//! - Every list is in a fixed order with the id last (newest first, or by id), and each page is
//!   read by keyset (`WHERE key after the cursor's ORDER BY key LIMIT limit + 1`): a page costs
//!   the same at any depth, and a walk over the pages sees every item once, never twice, also
//!   while items are added.
//!
//! [`ListQuery`] is the one extractor of a list's query string and [`Page`] the one answer.

use super::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use miaodan_store::records::Keyset;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Items in a page when the request names no `limit`.
pub const PAGE_ITEMS_DEFAULT: i64 = 50;
/// The most items a page holds; a larger `limit` is refused (422 `invalid_field`).
pub const PAGE_ITEMS_MAX: i64 = 200;
/// A longer cursor is none this server made: refused before it is decoded.
pub const CURSOR_CHARS_MAX: usize = 512;

/// The paging parameters every list takes (documented once, for every list).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, as it was given (opaque); absent for the first page.
    #[param(schema_with = super::schema::cursor)]
    pub cursor: Option<String>,
}

/// A list without filters of its own: any parameter but `limit` and `cursor` is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Which page a request asks for.
#[derive(Clone, Debug)]
pub struct PageRequest {
    limit: i64,
    cursor: Option<String>,
}

/// A list's query string: the page asked for, and the list's own filters `F` (a struct that
/// denies unknown fields, so a misspelt parameter is refused rather than ignored).
pub struct ListQuery<F> {
    pub page: PageRequest,
    pub filter: F,
}

fn malformed_query(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", detail)
}

/// The refusal of a cursor that is not one of this list's: 400 `invalid_cursor`.
pub fn invalid_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
        "not a cursor of this list; pass the next_cursor of its previous page as it was given",
    )
    .field("cursor")
}

impl PageRequest {
    /// Reads `limit` and `cursor` as they came in the query string.
    pub fn parse(limit: Option<&str>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
        let limit = match limit {
            None => PAGE_ITEMS_DEFAULT,
            Some(raw) => raw
                .parse::<i64>()
                .map_err(|_| malformed_query("limit is an integer").field("limit"))?,
        };
        if !(1..=PAGE_ITEMS_MAX).contains(&limit) {
            return Err(ApiError::invalid(
                "invalid_field",
                "limit",
                format!("limit is 1 to {PAGE_ITEMS_MAX}"),
            ));
        }
        Ok(PageRequest { limit, cursor })
    }

    /// The items a page holds at most.
    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// The rows to read: one more than the page holds, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The position the page starts after, if the request gave a cursor: the key `K` of the
    /// last item of the page before, in list `list`.
    pub fn after<K: DeserializeOwned>(&self, list: &str) -> Result<Option<K>, ApiError> {
        let Some(raw) = &self.cursor else {
            return Ok(None);
        };
        if raw.len() > CURSOR_CHARS_MAX {
            return Err(invalid_cursor());
        }
        let bytes = hex::decode(raw).map_err(|_| invalid_cursor())?;
        let (named, key): (String, K) = serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
        if named != list {
            return Err(invalid_cursor());
        }
        Ok(Some(key))
    }

    /// What to read of list `list` from the store: the rows after the cursor's position, one
    /// more than the page holds.
    pub fn keyset<K: DeserializeOwned>(&self, list: &str) -> Result<Keyset<K>, ApiError> {
        Ok(Keyset {
            after: self.after(list)?,
            limit: self.fetch(),
        })
    }

    /// The page of `rows` (read with [`PageRequest::fetch`]): at most `limit` items, and a
    /// cursor after the last of them when more rows followed.
    pub fn page<R, K: Serialize, T>(
        &self,
        list: &str,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> K,
        view: impl Fn(&R) -> T,
    ) -> Page<T> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|last| cursor(list, &key(last)))
        } else {
            None
        };
        Page {
            items: rows.iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// The cursor after the item at `key` of list `list`: hex of `[list, key]` as JSON.
pub fn cursor<K: Serialize>(list: &str, key: &K) -> String {
    hex::encode(serde_json::to_vec(&(list, key)).unwrap_or_default())
}

/// Splits a query string into the paging parameters and the rest, each given at most once.
fn split_query(query: &str) -> Result<(PageRequest, String), ApiError> {
    let pairs: Vec<(String, String)> = super::extract::decode_query(query)?;
    let (mut limit, mut cursor, mut rest) = (None, None, Vec::new());
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => {
                rest.push((name, value));
                continue;
            }
        };
        if slot.replace(value).is_some() {
            return Err(malformed_query(format!("{name} is given more than once")).field(name));
        }
    }
    let page = PageRequest::parse(limit.as_deref(), cursor)?;
    let rest = serde_urlencoded::to_string(&rest).map_err(|e| malformed_query(e.to_string()))?;
    Ok((page, rest))
}

impl<S: Send + Sync, F: DeserializeOwned> FromRequestParts<S> for ListQuery<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (page, rest) = split_query(parts.uri.query().unwrap_or(""))?;
        let filter = super::extract::decode_query::<F>(&rest)?;
        Ok(ListQuery { page, filter })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(limit: i64, cursor: Option<String>) -> PageRequest {
        PageRequest { limit, cursor }
    }

    #[test]
    fn a_cursor_names_its_list_and_position() {
        let raw = cursor("orders", &(1_700_000_000_000_i64, 42_i64));
        let page = request(2, Some(raw));
        assert_eq!(
            page.after::<(i64, i64)>("orders").unwrap(),
            Some((1_700_000_000_000, 42))
        );
        assert_eq!(page.after::<(i64, i64)>("refunds").unwrap_err().code, "invalid_cursor");
        assert_eq!(page.after::<i64>("orders").unwrap_err().code, "invalid_cursor");
    }

    #[test]
    fn what_no_list_made_is_an_invalid_cursor() {
        for raw in ["", "abc", "zz", "5b5d", &"00".repeat(300), &hex::encode("[\"orders\"]")] {
            let error = request(2, Some(raw.to_string())).after::<i64>("orders").unwrap_err();
            assert_eq!(
                (error.status, error.code),
                (StatusCode::BAD_REQUEST, "invalid_cursor"),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_page_holds_at_most_its_limit_and_points_after_its_last_item() {
        let page = request(2, None).page("ids", vec![5, 6, 7], |id| *id, |id| id * 10);
        assert_eq!(page.items, vec![50, 60]);
        let next = request(2, page.next_cursor);
        assert_eq!(next.after::<i64>("ids").unwrap(), Some(6));
        let last = request(2, None).page("ids", vec![5, 6], |id| *id, |id| *id);
        assert_eq!((last.items, last.next_cursor), (vec![5, 6], None));
    }

    #[test]
    fn limit_is_an_integer_from_one_to_the_maximum() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit(), PAGE_ITEMS_DEFAULT);
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit(), 200);
        let (out_of_range, not_an_integer) = (
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (StatusCode::BAD_REQUEST, "invalid_query"),
        );
        for (raw, refusal) in [
            ("0", out_of_range),
            ("201", out_of_range),
            ("-1", out_of_range),
            ("abc", not_an_integer),
            ("1e3", not_an_integer),
            ("99999999999999999999", not_an_integer),
        ] {
            let error = PageRequest::parse(Some(raw), None).unwrap_err();
            assert_eq!((error.status, error.code), refusal, "{raw}");
            assert_eq!(error.field.as_deref(), Some("limit"), "{raw}");
        }
    }

    #[test]
    fn paging_parameters_are_split_from_the_filters_and_given_once() {
        let (page, rest) = split_query("state=paid&limit=3&q=%E7%89%9B").unwrap();
        assert_eq!(page.limit(), 3);
        assert_eq!(rest, "state=paid&q=%E7%89%9B");
        assert_eq!(split_query("limit=1&limit=2").unwrap_err().code, "invalid_query");
        assert_eq!(split_query("cursor=a&cursor=b").unwrap_err().code, "invalid_query");
    }
}
