//! Setting the stage over the platform's public API: the organizer's
//! event and hot ticket type, and the buyers' access tokens.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

/// One phase's hot ticket type.
#[derive(Debug, Clone)]
pub struct Target {
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub capacity: i64,
}

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(client: reqwest::Client, base: &str) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// POSTs JSON; retries a 429/503 after its `Retry-After` (setup only).
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        for _ in 0..60 {
            let mut req = self.client.post(&url).json(body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 10);
            let bytes = resp
                .bytes()
                .await
                .with_context(|| format!("POST {url}: body"))?;
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Ok((status, value));
        }
        bail!("POST {url}: still refused (429/503) after a minute")
    }

    async fn post_ok(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let (status, v) = self.post(path, token, body).await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {v}");
        }
        Ok(v)
    }

    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let v = self
            .post_ok(
                "/v1/auth/login",
                None,
                &json!({"email": email, "password": password}),
            )
            .await
            .with_context(|| format!("login as {email}"))?;
        v["access_token"]
            .as_str()
            .map(str::to_string)
            .context("login: no access_token in the response")
    }

    /// Registers the account (an existing one is fine) and logs in.
    pub async fn buyer(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let (status, v) = self
            .post(
                "/v1/auth/register",
                None,
                &json!({"email": email, "password": password, "name": "Load Buyer"}),
            )
            .await?;
        if !(status.is_success() || status == StatusCode::CONFLICT) {
            bail!("register {email}: {status}: {v}");
        }
        self.login(email, password).await
    }

    /// `n` buyers' access tokens, registering and logging in `concurrency`
    /// at a time (each costs the server two argon2id hashes).
    pub async fn buyers(
        &self,
        n: usize,
        run: &str,
        password: &str,
        concurrency: usize,
    ) -> anyhow::Result<Vec<String>> {
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut set = JoinSet::new();
        for i in 0..n {
            let api = self.clone();
            let gate = gate.clone();
            let email = format!("buyer-{run}-{i}@loadgen.test");
            let password = password.to_string();
            set.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                Ok::<_, anyhow::Error>((i, api.buyer(&email, &password).await?))
            });
        }
        let mut tokens = vec![String::new(); n];
        while let Some(r) = set.join_next().await {
            let (i, token) = r??;
            tokens[i] = token;
        }
        Ok(tokens)
    }

    /// A published event with one ticket type of `capacity` (holds last an
    /// hour, so none lapses during a run).
    pub async fn create_target(
        &self,
        admin_token: &str,
        label: &str,
        capacity: i64,
    ) -> anyhow::Result<Target> {
        let now = Utc::now();
        let ts = |d: chrono::Duration| (now + d).to_rfc3339_opts(SecondsFormat::Secs, true);
        let event = self
            .post_ok(
                "/v1/events",
                Some(admin_token),
                &json!({
                    "title": format!("loadgen {label}"),
                    "description": "hold load benchmark",
                    "venue": "Loopback Arena",
                    "city": "Localhost",
                    "category": "benchmark",
                    "timezone": "Europe/Berlin",
                    "starts_at": ts(chrono::Duration::days(30)),
                    "ends_at": ts(chrono::Duration::days(30) + chrono::Duration::hours(3)),
                    "hold_minutes": 60,
                }),
            )
            .await
            .context("create the event (is the admin an organizer?)")?;
        let event_id: Uuid = serde_json::from_value(event["id"].clone()).context("event id")?;
        let tt = self
            .post_ok(
                &format!("/v1/events/{event_id}/ticket-types"),
                Some(admin_token),
                &json!({
                    "name": "hot",
                    "price_cents": 4200,
                    "currency": "EUR",
                    "capacity": capacity,
                    "max_per_order": 10,
                }),
            )
            .await
            .context("add the ticket type")?;
        let ticket_type_id: Uuid =
            serde_json::from_value(tt["id"].clone()).context("ticket type id")?;
        self.post_ok(
            &format!("/v1/events/{event_id}/publish"),
            Some(admin_token),
            &json!({}),
        )
        .await
        .context("publish the event")?;
        Ok(Target {
            event_id,
            ticket_type_id,
            capacity,
        })
    }
}
