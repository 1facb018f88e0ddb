//! The notification function's settings (`TICKETGW_SMTP_*`, `TICKETGW_MAIL_*`,
//! `TICKETGW_TWILIO_*`, `TICKETGW_TELEGRAM_*`, `TICKETGW_NOTIFY_*`).

use std::path::PathBuf;

use tg_http::Secret;

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `TICKETGW_SMTP_URL`, e.g. `smtp://user:pass@mail.example.org:587`
    /// (STARTTLS required), `smtps://...:465` (TLS), or
    /// `smtp://127.0.0.1:2525?tls=none` (plain, loopback test servers only).
    /// Unset: messages are written as `.eml` files to `mail_dir`.
    pub smtp_url: Option<Secret<String>>,
    /// `TICKETGW_MAIL_DIR` (default `<data dir>/mail`).
    pub mail_dir: PathBuf,
    /// `TICKETGW_MAIL_FROM` (default `Ticket Gateway <tickets@ticketgw.local>`).
    pub mail_from: String,
    /// `TICKETGW_SUPPORT_EMAIL` (default the From address).
    pub support_email: String,
    /// `TICKETGW_APP_URL`: links in messages (default `TICKETGW_PUBLIC_URL`).
    pub app_url: String,
    /// Twilio: `TICKETGW_TWILIO_ACCOUNT_SID`, `_AUTH_TOKEN`, `_FROM`,
    /// `_BASE_URL` (default `https://api.twilio.com`). SMS is off unless
    /// all three are set.
    pub twilio: Option<TwilioConfig>,
    /// Telegram ops alerts: `TICKETGW_TELEGRAM_BOT_TOKEN`, `_CHAT_ID`,
    /// `_BASE_URL` (default `https://api.telegram.org`).
    pub telegram: Option<TelegramConfig>,
    /// `TICKETGW_NOTIFY_DAILY_CAP` (default 20, 0 = no cap): messages one
    /// recipient gets per day on one channel.
    pub daily_cap: u32,
    /// `TICKETGW_NOTIFY_LEASE_SECS` (default 30, longer than the SMTP
    /// timeout): how long a claimed message may take to send before
    /// another delivery may take it over (after a consumer crash). The
    /// broker's retries must span more than this (Triggers: 8 retries from
    /// 1 s, exponential).
    pub lease_secs: u32,
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: Secret<String>,
    pub from: String,
    pub base_url: String,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub bot_token: Secret<String>,
    pub chat_id: String,
    pub base_url: String,
}

impl NotifyConfig {
    pub fn from_env(platform: &tg_platform::Config) -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok(), platform)
    }

    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        platform: &tg_platform::Config,
    ) -> anyhow::Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let smtp_url = get("TICKETGW_SMTP_URL");
        if let Some(u) = &smtp_url {
            anyhow::ensure!(
                u.starts_with("smtp://") || u.starts_with("smtps://"),
                "TICKETGW_SMTP_URL must start with smtp:// or smtps://"
            );
        }
        let mail_from = get("TICKETGW_MAIL_FROM")
            .unwrap_or_else(|| "Ticket Gateway <tickets@ticketgw.local>".into());
        let from_addr = mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| anyhow::anyhow!("TICKETGW_MAIL_FROM: `{mail_from}` is not a mailbox"))?
            .email
            .to_string();
        let twilio = match (
            get("TICKETGW_TWILIO_ACCOUNT_SID"),
            get("TICKETGW_TWILIO_AUTH_TOKEN"),
            get("TICKETGW_TWILIO_FROM"),
        ) {
            (Some(sid), Some(token), Some(from)) => Some(TwilioConfig {
                account_sid: sid,
                auth_token: Secret::new(token),
                from,
                base_url: get("TICKETGW_TWILIO_BASE_URL")
                    .unwrap_or_else(|| "https://api.twilio.com".into()),
            }),
            (None, None, None) => None,
            _ => anyhow::bail!(
                "TICKETGW_TWILIO_ACCOUNT_SID, TICKETGW_TWILIO_AUTH_TOKEN and TICKETGW_TWILIO_FROM go together"
            ),
        };
        let telegram = match (
            get("TICKETGW_TELEGRAM_BOT_TOKEN"),
            get("TICKETGW_TELEGRAM_CHAT_ID"),
        ) {
            (Some(token), Some(chat)) => Some(TelegramConfig {
                bot_token: Secret::new(token),
                chat_id: chat,
                base_url: get("TICKETGW_TELEGRAM_BASE_URL")
                    .unwrap_or_else(|| "https://api.telegram.org".into()),
            }),
            (None, None) => None,
            _ => anyhow::bail!(
                "TICKETGW_TELEGRAM_BOT_TOKEN and TICKETGW_TELEGRAM_CHAT_ID go together"
            ),
        };
        let num = |k: &str, d: u32| -> anyhow::Result<u32> {
            match get(k) {
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{k}: `{v}` is not a whole number")),
                None => Ok(d),
            }
        };
        Ok(NotifyConfig {
            smtp_url: smtp_url.map(Secret::new),
            mail_dir: get("TICKETGW_MAIL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| platform.data_dir.join("mail")),
            support_email: get("TICKETGW_SUPPORT_EMAIL").unwrap_or(from_addr),
            mail_from,
            app_url: get("TICKETGW_APP_URL")
                .unwrap_or_else(|| platform.public_url.clone())
                .trim_end_matches('/')
                .to_owned(),
            twilio,
            telegram,
            daily_cap: num("TICKETGW_NOTIFY_DAILY_CAP", 20)?,
            lease_secs: num("TICKETGW_NOTIFY_LEASE_SECS", 30)?.max(1),
        })
    }
}
