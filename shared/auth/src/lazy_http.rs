//! An HTTP client built on first use. Building a TLS client loads the root
//! certificates (milliseconds); a function that never calls out (most
//! requests, and every cold start) should not pay for it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct LazyClient(Arc<OnceLock<reqwest::Client>>);

impl LazyClient {
    /// A client with a 10 s timeout, built when first needed.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self) -> &reqwest::Client {
        self.0.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
    }
}

impl From<reqwest::Client> for LazyClient {
    fn from(client: reqwest::Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        Self(Arc::new(cell))
    }
}

impl std::fmt::Debug for LazyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyClient")
    }
}
