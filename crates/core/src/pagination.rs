//! Cursor pagination: `limit` (1–200, default 50) and an opaque `cursor`.
//!
//! A cursor encodes the sort key of the last item returned; the next page starts strictly
//! after it, so inserts never shift or repeat items (stable under inserts).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;
const CURSOR_PREFIX: &str = "c1:";

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u64,
    /// The decoded key of the last item of the previous page.
    pub after: Option<String>,
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

/// The key inside a cursor (400 when it is not one of ours).
pub fn decode_cursor(raw: &str) -> AppResult<String> {
    let bad = || AppError::BadRequest("The cursor is not valid.".into());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix(CURSOR_PREFIX)
        .map(str::to_string)
        .ok_or_else(bad)
}

/// A `limit` query value: 1 to [`MAX_LIMIT`].
pub fn parse_limit(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_LIMIT}")),
    }
}

impl PageRequest {
    /// Builds the page from up to `limit + 1` fetched rows (the extra one only tells that
    /// another page exists).
    pub fn finish<R, T: ToSchema>(
        &self,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Page<T> {
        let has_more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("0190-abc");
        assert_eq!(decode_cursor(&c).expect("valid"), "0190-abc");
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("other")).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert!(parse_limit("0").is_err());
        assert!(parse_limit("201").is_err());
        assert!(parse_limit("x").is_err());
        assert_eq!(parse_limit("200"), Ok(200));
    }
}
