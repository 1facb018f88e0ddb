//! Server-side CAPTCHA verification (reCAPTCHA v2/v3; hCaptcha and
//! Cloudflare Turnstile speak the same `siteverify` protocol): success,
//! action, hostname and score are checked, and an unreachable provider
//! fails closed. Off when no secret is configured.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;
use tg_http::{ApiError, FieldError, Secret};

#[derive(Debug, Clone)]
pub struct CaptchaConfig {
    pub secret: Secret<String>,
    pub verify_url: String,
    /// reCAPTCHA v3 scores below this fail (ignored when no score is sent).
    pub min_score: f64,
    /// Accepted hostnames; empty accepts any.
    pub hostnames: Vec<String>,
}

pub struct Captcha {
    config: CaptchaConfig,
    http: tg_auth::LazyClient,
}

#[derive(Debug, Deserialize)]
struct SiteVerify {
    success: bool,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

impl Captcha {
    pub fn new(config: CaptchaConfig, http: tg_auth::LazyClient) -> Self {
        Self { config, http }
    }

    /// Verifies the client's token for `action`. Missing or rejected: 400
    /// `captcha_failed`; provider down or slow: 503 `captcha_unavailable`.
    pub async fn verify(
        &self,
        token: Option<&str>,
        action: &str,
        remote_ip: Option<String>,
    ) -> Result<(), ApiError> {
        let failed = || {
            ApiError::bad_request("captcha_failed", "the CAPTCHA check failed; try again")
                .with_errors(vec![FieldError::new("captcha_token", "was not accepted")])
        };
        let token = token
            .filter(|t| !t.is_empty() && t.len() <= 4096)
            .ok_or_else(failed)?;
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("secret", self.config.secret.expose());
            form.append_pair("response", token);
            if let Some(ip) = &remote_ip {
                form.append_pair("remoteip", ip);
            }
            form.finish()
        };
        let unavailable = |e: anyhow::Error| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "captcha_unavailable",
                "the CAPTCHA service is not answering; retry later",
            )
            .with_header(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            )
            .with_source(e)
        };
        let resp = self
            .http
            .get()
            .post(&self.config.verify_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| unavailable(e.into()))?;
        if !resp.status().is_success() {
            return Err(unavailable(anyhow::anyhow!(
                "captcha provider answered {}",
                resp.status()
            )));
        }
        let body: SiteVerify = resp.json().await.map_err(|e| unavailable(e.into()))?;
        let action_ok = body.action.as_deref().is_none_or(|a| a == action);
        let score_ok = body.score.is_none_or(|s| s >= self.config.min_score);
        let host_ok = self.config.hostnames.is_empty()
            || body
                .hostname
                .as_deref()
                .is_some_and(|h| self.config.hostnames.iter().any(|allowed| allowed == h));
        if body.success && action_ok && score_ok && host_ok {
            Ok(())
        } else {
            tracing::info!(
                success = body.success,
                action_ok,
                score_ok,
                host_ok,
                "captcha rejected"
            );
            Err(failed())
        }
    }
}
