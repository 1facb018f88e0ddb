//! The channels: email (SMTP through lettre, or `.eml` files when no SMTP
//! server is configured), SMS (Twilio's Messages API), and ops alerts
//! (Telegram's Bot API). Each send is classified as retryable (the event is
//! delivered again later) or permanent (recorded as skipped).

use std::path::PathBuf;
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{NotifyConfig, TelegramConfig, TwilioConfig};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Mailer {
    pub fn from_config(c: &NotifyConfig) -> anyhow::Result<Self> {
        match &c.smtp_url {
            Some(url) => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("TICKETGW_SMTP_URL: {e}"))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build();
                Ok(Mailer::Smtp(t))
            }
            None => Ok(Mailer::Files(c.mail_dir.clone())),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "SMTP".into(),
            Mailer::Files(d) => format!(".eml files in {}", d.display()),
        }
    }

    /// Sends (or writes) one message; `file_stem` names the file.
    pub async fn send(&self, msg: Message, file_stem: &str) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(t) => t.send(msg).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(format!("SMTP refused the message: {e}"))
                } else {
                    SendError::Retryable(format!("SMTP: {e}"))
                }
            }),
            Mailer::Files(dir) => {
                let bytes = msg.formatted();
                let dir = dir.clone();
                let stem: String = file_stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    std::fs::create_dir_all(&dir)?;
                    let tmp = dir.join(format!(".{stem}.tmp"));
                    std::fs::write(&tmp, &bytes)?;
                    std::fs::rename(&tmp, dir.join(format!("{stem}.eml")))
                })
                .await
                .map_err(|e| SendError::Retryable(format!("mail writer: {e}")))?
                .map_err(|e| SendError::Retryable(format!("cannot write the .eml file: {e}")))
            }
        }
    }
}

fn classify(status: reqwest::StatusCode, body: &str, what: &str) -> Result<(), SendError> {
    let detail = format!(
        "{what} answered {status}: {}",
        body.chars().take(300).collect::<String>()
    );
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(SendError::Retryable(detail))
    } else {
        Err(SendError::Permanent(detail))
    }
}

/// Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`,
/// form-encoded, HTTP basic auth with the account SID and auth token).
pub struct Twilio {
    pub config: TwilioConfig,
    pub http: reqwest::Client,
}

impl Twilio {
    pub async fn send(&self, to: &str, body: &str) -> Result<String, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.base_url.trim_end_matches('/'),
            self.config.account_sid
        );
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("From", &self.config.from)
            .append_pair("Body", body)
            .finish();
        let resp = self
            .http
            .post(&url)
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("Twilio: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        classify(status, &text, "Twilio")?;
        let sid = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Ok(sid)
    }
}

/// Telegram's Bot API (`POST /bot<token>/sendMessage`).
pub struct Telegram {
    pub config: TelegramConfig,
    pub http: reqwest::Client,
}

impl Telegram {
    pub async fn send(&self, text: &str) -> Result<(), SendError> {
        let url = format!(
            "{}/bot{}/sendMessage",
            self.config.base_url.trim_end_matches('/'),
            self.config.bot_token.expose()
        );
        let resp = self
            .http
            .post(&url)
            .json(&serde_json::json!({
                "chat_id": self.config.chat_id,
                "text": text.chars().take(4000).collect::<String>(),
                "disable_web_page_preview": true,
            }))
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("Telegram: {}", e.without_url())))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        classify(status, &text, "Telegram")?;
        let ok = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("ok").and_then(|b| b.as_bool()))
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(SendError::Permanent(format!(
                "Telegram said not ok: {}",
                text.chars().take(300).collect::<String>()
            )))
        }
    }
}
