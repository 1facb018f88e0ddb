//! `?limit=&cursor=` lists: limit 1..=100 (default 20) and opaque cursors.
//!
//! A cursor is the base64url encoding of a small JSON value (the sort key of
//! the last item served). Clients treat it as opaque; a cursor that does not
//! decode is a 400 `invalid_cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, FieldError};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const MAX_CURSOR_LEN: usize = 512;

/// The raw list parameters, as found in the query string.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Validated list parameters with the decoded cursor key.
#[derive(Debug, Clone)]
pub struct Page<K> {
    pub limit: u32,
    pub after: Option<K>,
}

impl PageParams {
    pub fn parse<K: DeserializeOwned>(&self) -> Result<Page<K>, ApiError> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("limit must be between 1 and {MAX_LIMIT}"),
                )
                .with_errors(vec![FieldError::new(
                    "limit",
                    format!("must be between 1 and {MAX_LIMIT}"),
                )]));
            }
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        Ok(Page { limit, after })
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    // Serializing plain keys (times, ids, numbers) cannot fail.
    let json = serde_json::to_vec(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let bad = || {
        ApiError::bad_request("invalid_cursor", "the pagination cursor is not valid").with_errors(
            vec![FieldError::new("cursor", "is not a cursor this API issued")],
        )
    };
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// A page of results: `{ "items": [...], "next_cursor": "..." | null }`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only
    /// tells that another page exists.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Self {
        let limit = limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Paged {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_list_parameters_are_refused() {
        let ok: PageParams = serde_urlencoded::from_str("limit=5&cursor=abc").expect("known");
        assert_eq!(ok.limit, Some(5));
        assert!(serde_urlencoded::from_str::<PageParams>("limit=1&sort=name").is_err());
    }

    #[test]
    fn cursor_round_trip() {
        let key = ("2026-01-01T00:00:00Z".to_string(), 7u32);
        let c = encode_cursor(&key);
        let back: (String, u32) = decode_cursor(&c).expect("decodes");
        assert_eq!(back, key);
    }

    #[test]
    fn broken_cursor_is_400() {
        let err = decode_cursor::<(String, u32)>("!!not-base64!!").unwrap_err();
        assert_eq!(err.code(), "invalid_cursor");
        let err = decode_cursor::<(String, u32)>(&URL_SAFE_NO_PAD.encode(b"[1]")).unwrap_err();
        assert_eq!(err.code(), "invalid_cursor");
    }

    #[test]
    fn limits() {
        let p = PageParams {
            limit: Some(0),
            cursor: None,
        };
        assert!(p.parse::<u32>().is_err());
        let p = PageParams {
            limit: Some(101),
            cursor: None,
        };
        assert!(p.parse::<u32>().is_err());
        let p = PageParams::default();
        assert_eq!(p.parse::<u32>().expect("ok").limit, DEFAULT_LIMIT);
    }

    #[test]
    fn page_from_rows() {
        let page = Paged::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(
            decode_cursor::<i32>(page.next_cursor.as_deref().expect("more")).expect("ok"),
            2
        );
        let page = Paged::from_rows(vec![1, 2], 2, |n| *n);
        assert!(page.next_cursor.is_none());
    }
}
