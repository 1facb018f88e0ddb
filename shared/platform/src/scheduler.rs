//! The scheduler's credential for the scheduled entry points
//! (`booking-expiry`, `payments-reconcile`).
//!
//! A Knative PingSource cannot set HTTP headers, but every CloudEvent
//! extension attribute it is given in `spec.ceOverrides.extensions` is sent
//! as a `ce-<name>` header (binary content mode). The PingSource therefore
//! carries the shared secret as the extension `schedulertoken`, i.e. the
//! header `ce-schedulertoken`; other schedulers (a cron job, EventBridge
//! Scheduler's Function-URL-style input) send `X-Scheduler-Token`. The
//! value is compared with `TICKETGW_SCHEDULER_TOKEN` in constant time (both
//! sides hashed first, so neither length nor content leaks). Missing, wrong
//! or unconfigured: 401 before the handler runs anything.

use aws_lc_rs::{constant_time, digest};
use axum::extract::FromRequestParts;
use http::request::Parts;
use tg_http::ApiError;

use crate::AppState;

/// The CloudEvents extension header a PingSource sends.
pub const CE_HEADER: &str = "ce-schedulertoken";
/// The plain header for other schedulers.
pub const HEADER: &str = "x-scheduler-token";

/// Proof that the request came from the configured scheduler.
#[derive(Debug, Clone, Copy)]
pub struct Scheduler;

/// Whether `presented` is the configured token (constant time).
pub fn token_matches(configured: &str, presented: &str) -> bool {
    let a = digest::digest(&digest::SHA256, configured.as_bytes());
    let b = digest::digest(&digest::SHA256, presented.as_bytes());
    constant_time::verify_slices_are_equal(a.as_ref(), b.as_ref()).is_ok()
}

impl FromRequestParts<AppState> for Scheduler {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(configured) = &state.config.scheduler_token else {
            tracing::error!(
                "a scheduled entry point was called but TICKETGW_SCHEDULER_TOKEN is not set"
            );
            return Err(ApiError::unauthorized("scheduler credentials required"));
        };
        let presented = [CE_HEADER, HEADER]
            .iter()
            .find_map(|h| parts.headers.get(*h))
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        match presented {
            Some(p) if token_matches(configured.expose(), p) => Ok(Scheduler),
            _ => Err(ApiError::unauthorized("scheduler credentials required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn only_the_exact_token_matches() {
        let t = "0123456789abcdef0123456789abcdef";
        assert!(token_matches(t, t));
        assert!(!token_matches(t, ""));
        assert!(!token_matches(t, &t[..31]));
        assert!(!token_matches(t, &format!("{t}0")));
        assert!(!token_matches(t, "0123456789abcdef0123456789abcdeF"));
    }
}
