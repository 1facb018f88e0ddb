//! HTTP building blocks shared by every Ticket Gateway function.
//!
//! * [`ApiError`]: the one error type handlers return; it renders as RFC 9457
//!   `application/problem+json` with a stable machine-readable `code`.
//! * [`Json`], [`Path`], [`Query`]: strict extractors whose rejections are
//!   problem+json naming the offending field, never axum's plain-text bodies.
//! * [`pagination`]: `?limit=&cursor=` parsing and opaque cursors.
//! * [`patch`]: deserializers telling an absent PATCH field from `null`.
//! * [`Secret`]: a wrapper whose `Debug` never prints the value.

mod error;
mod extract;
pub mod pagination;
pub mod patch;
mod secret;

pub use error::{ApiError, FieldError, PROBLEM_JSON, ProblemDoc};
pub use extract::{Json, Path, Query, parse_json};
pub use pagination::{Page, PageParams, Paged};
pub use secret::Secret;
