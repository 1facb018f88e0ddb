//! Fixed-window rate limits kept in the database, so every instance of a
//! function counts against the same budget.

use chrono::{DurationRound, TimeDelta, Utc};
use http::{HeaderValue, StatusCode, header};
use tg_http::ApiError;
use tg_store::Store;

/// Counts one hit on `key` in the current minute; 429 with `Retry-After`
/// once more than `per_minute` hits were counted.
pub async fn check(store: &dyn Store, key: &str, per_minute: u32) -> Result<(), ApiError> {
    let now = Utc::now();
    let window = now
        .duration_trunc(TimeDelta::minutes(1))
        .map_err(ApiError::internal)?;
    let hits = store.hit_counter(key, window).await?;
    if hits > i64::from(per_minute) {
        let retry = (window + TimeDelta::minutes(1) - now).num_seconds().max(1);
        return Err(too_many(
            "rate_limited",
            "too many requests; retry later",
            retry,
        ));
    }
    Ok(())
}

/// 429 with a `Retry-After` header of `seconds`.
pub fn too_many(code: &'static str, detail: &str, seconds: i64) -> ApiError {
    let value = HeaderValue::from_str(&seconds.max(1).to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("60"));
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
        .with_header(header::RETRY_AFTER, value)
}
