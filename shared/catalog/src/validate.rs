//! Field checks that collect every problem before answering, so a client
//! learns all that is wrong with a request at once.

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use tg_http::{ApiError, FieldError};
use tg_store::Currency;

#[derive(Default)]
pub(crate) struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A single-line text: trimmed, `min..=max` characters, no control
    /// characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let v = value.trim();
        let n = v.chars().count();
        if n < min {
            self.fail(field, "must not be empty");
        } else if n > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if v.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
        v.to_string()
    }

    /// Multi-line text: newlines and tabs allowed.
    pub fn long_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if v
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.fail(field, "must not contain control characters");
        }
        v.to_string()
    }

    pub fn timezone(&mut self, field: &str, value: &str) -> String {
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.fail(field, "must be an IANA time zone such as Europe/Berlin");
        }
        value.to_string()
    }

    pub fn url(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        let rest = v
            .strip_prefix("https://")
            .or_else(|| v.strip_prefix("http://"));
        let ok = v.len() <= 2048
            && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
            && !v.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            self.fail(field, "must be an http(s) URL of at most 2048 characters");
        }
        v.to_string()
    }

    pub fn currency(&mut self, field: &str, value: &str) -> Option<Currency> {
        let c = Currency::parse(value);
        if c.is_none() {
            self.fail(field, format!("`{value}` is not an ISO 4217 currency code"));
        }
        c
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min {
            self.fail(field, format!("must be at least {min}"));
        } else if value > max {
            self.fail(field, format!("must be at most {max}"));
        }
    }

    /// A time in a sane range for ticket sales (years 2000 to 2199), at
    /// microsecond precision.
    pub fn time(&mut self, field: &str, t: DateTime<FixedOffset>) -> DateTime<Utc> {
        let utc = tg_store::truncate_micros(t.with_timezone(&Utc));
        if !(2000..=2199).contains(&utc.year()) {
            self.fail(field, "must be between the years 2000 and 2199");
        }
        utc
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}
