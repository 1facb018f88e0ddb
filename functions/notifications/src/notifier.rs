//! What each event means for people: the buyer's emails and SMS, and the
//! operators' Telegram alerts. Every message is claimed in the notification
//! log on (CloudEvent `source`, `id`, channel, recipient) before it is sent
//! and marked after, so a redelivered event never sends twice.

use std::sync::Arc;

use chrono::Utc;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use serde_json::json;
use tg_events::{CloudEvent, DeliveryError, EventSink};
use tg_store::{
    Booking, BookingStatus, DynStore, NotificationClaim, NotificationKey, Scope, StoreError,
};
use uuid::Uuid;

use crate::channels::{Mailer, SendError, Telegram, Twilio};
use crate::config::NotifyConfig;
use crate::render::{Templates, money};

/// What handling an event did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Messages sent now.
    pub sent: u32,
    /// Messages already sent by an earlier delivery of the same event.
    pub duplicates: u32,
    /// Messages not sent on purpose (preferences, cap, no address).
    pub skipped: u32,
}

pub struct Notifier {
    store: DynStore,
    config: NotifyConfig,
    mailer: Mailer,
    sms: Option<Twilio>,
    telegram: Option<Telegram>,
    templates: Templates,
    from: Mailbox,
}

fn store_err(e: StoreError) -> DeliveryError {
    match e {
        // Maybe not visible yet (a replica behind): retried, and
        // dead-lettered after the broker's attempts.
        StoreError::NotFound(what) => DeliveryError::Retryable(format!("{what} not found")),
        other => DeliveryError::Retryable(format!("storage: {other}")),
    }
}

fn send_err(e: SendError) -> DeliveryError {
    match e {
        SendError::Retryable(m) => DeliveryError::Retryable(m),
        SendError::Permanent(m) => DeliveryError::Permanent(m),
    }
}

fn uuid_field(ev: &CloudEvent, field: &str) -> Result<Uuid, DeliveryError> {
    ev.data
        .as_ref()
        .and_then(|d| d.get(field))
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            DeliveryError::Permanent(format!("`{}` event without a valid `data.{field}`", ev.ty))
        })
}

/// What every booking message is about.
struct Subject {
    booking: Booking,
    user: tg_store::User,
    event: tg_store::Event,
    /// A language the templates exist in (`en` otherwise).
    lang: String,
}

/// One email to write.
struct Mail {
    template: &'static str,
    ctx: serde_json::Value,
    inline: Vec<(String, Vec<u8>)>,
    attachments: Vec<(String, Vec<u8>)>,
}

impl Notifier {
    pub fn new(store: DynStore, config: NotifyConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        let mailer = Mailer::from_config(&config)?;
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("TICKETGW_MAIL_FROM: {e}"))?;
        tracing::info!(
            mail = %mailer.describe(),
            sms = config.twilio.is_some(),
            telegram = config.telegram.is_some(),
            "notifications ready"
        );
        if config.telegram.is_none() {
            tracing::warn!("TICKETGW_TELEGRAM_BOT_TOKEN is not set: ops alerts are only logged");
        }
        Ok(Notifier {
            sms: config.twilio.clone().map(|c| Twilio {
                config: c,
                http: http.clone(),
            }),
            telegram: config
                .telegram
                .clone()
                .map(|c| Telegram { config: c, http }),
            templates: Templates::new()?,
            mailer,
            from,
            store,
            config,
        })
    }

    /// Handles one event (any type: those that mean nothing to people are
    /// acknowledged and ignored).
    pub async fn handle(&self, ev: &CloudEvent) -> Result<Report, DeliveryError> {
        use tracing::Instrument;
        let span = tracing::info_span!("notify", r#type = %ev.ty, event = %ev.id);
        if let Some(tp) = ev.extension("traceparent") {
            tg_platform::telemetry::adopt_traceparent(&span, &tp);
        }
        self.handle_in_span(ev).instrument(span).await
    }

    async fn handle_in_span(&self, ev: &CloudEvent) -> Result<Report, DeliveryError> {
        let mut r = Report::default();
        match ev.ty.as_str() {
            "booking.confirmed" => {
                let s = self.subject(uuid_field(ev, "booking_id")?).await?;
                self.booking_mail(ev, &s, "booking_confirmed", json!({}), &mut r)
                    .await?;
                self.confirmation_sms(ev, &s, &mut r).await?;
            }
            "booking.cancelled" | "booking.expired" => {
                let id = uuid_field(ev, "booking_id")?;
                let template = if ev.ty == "booking.cancelled" {
                    "booking_cancelled"
                } else {
                    "booking_expired"
                };
                let s = self.subject(id).await?;
                self.booking_mail(ev, &s, template, json!({"reason": ""}), &mut r)
                    .await?;
            }
            "payment.refunded" => {
                let id = uuid_field(ev, "booking_id")?;
                let d = ev.data.clone().unwrap_or_default();
                let cents = d.get("amount_cents").and_then(|v| v.as_i64()).unwrap_or(0);
                let currency = d
                    .get("currency")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                let full = d.get("full").and_then(|v| v.as_bool()).unwrap_or(false);
                let s = self.subject(id).await?;
                self.booking_mail(
                    ev,
                    &s,
                    "booking_refunded",
                    json!({"refund_cents": cents, "refund_currency": currency, "refund_full": full}),
                    &mut r,
                )
                .await?;
            }
            "event.cancelled" => {
                let event_id = uuid_field(ev, "event_id")?;
                let bookings = self
                    .store
                    .ticketed_bookings(event_id)
                    .await
                    .map_err(store_err)?;
                for b in bookings {
                    let s = self.subject(b).await?;
                    self.booking_mail(ev, &s, "event_cancelled", json!({"reason": ""}), &mut r)
                        .await?;
                }
            }
            "account.verification_requested" => {
                self.account_mail(ev, "account_verify", &mut r).await?;
            }
            "account.password_reset_requested" => {
                self.account_mail(ev, "account_password_reset", &mut r)
                    .await?;
            }
            "payment.disputed" => {
                let d = ev.data.clone().unwrap_or_default();
                let detail = format!(
                    "A buyer disputed payment {} (booking {}); its tickets were revoked.",
                    d.get("payment_id").and_then(|v| v.as_str()).unwrap_or("?"),
                    d.get("booking_id").and_then(|v| v.as_str()).unwrap_or("?"),
                );
                self.alert(ev, "Payment disputed", &detail, None, &mut r)
                    .await?;
            }
            "ops.alert" => {
                let d = ev.data.clone().unwrap_or_default();
                let title = d
                    .get("title")
                    .and_then(|v| v.as_str())
                    .unwrap_or("Alert")
                    .to_owned();
                let detail = d
                    .get("detail")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                self.alert(ev, &title, &detail, None, &mut r).await?;
            }
            _ => {}
        }
        metrics::counter!("notifications_duplicates_total").increment(u64::from(r.duplicates));
        Ok(r)
    }

    /// An event the pipeline gave up on: tell the operators.
    pub async fn dead_letter(&self, ev: &CloudEvent) -> Result<Report, DeliveryError> {
        metrics::counter!("deadletters_total").increment(1);
        let mut r = Report::default();
        let reason = ev
            .extension("knativeerrordata")
            .or_else(|| {
                ev.extension("knativeerrorcode")
                    .map(|c| format!("HTTP {c}"))
            })
            .unwrap_or_else(|| "delivery failed".into());
        let attempts = ev.extension("ticketgwattempts");
        tracing::error!(event = %ev.id, r#type = %ev.ty, source = %ev.source, reason = %reason, "dead letter");
        self.alert(
            ev,
            "Event dead-lettered",
            &format!("The pipeline gave up delivering this event: {reason}"),
            attempts,
            &mut r,
        )
        .await?;
        Ok(r)
    }

    async fn alert(
        &self,
        ev: &CloudEvent,
        title: &str,
        detail: &str,
        attempts: Option<String>,
        r: &mut Report,
    ) -> Result<(), DeliveryError> {
        let text = self
            .templates
            .render(
                "en",
                "alert.txt",
                &json!({"alert": {
                    "title": title, "detail": detail, "event_type": ev.ty,
                    "event_id": ev.id, "source": ev.source, "attempts": attempts,
                }}),
            )
            .map_err(|e| DeliveryError::Permanent(format!("template: {e:#}")))?;
        let Some(tg) = &self.telegram else {
            tracing::warn!(alert = %text, "ops alert (no Telegram chat configured)");
            r.skipped += 1;
            return Ok(());
        };
        let key = NotificationKey {
            source: ev.source.clone(),
            event_id: ev.id.clone(),
            channel: "telegram".into(),
            recipient: tg.config.chat_id.clone(),
        };
        self.once(&key, None, r, || async { tg.send(&text).await.map(|_| ()) })
            .await
    }

    /// Claims `key`, checks the daily cap of `capped` (the address), runs
    /// `send`, and records the outcome.
    async fn once<F, Fut>(
        &self,
        key: &NotificationKey,
        capped: Option<&str>,
        r: &mut Report,
        send: F,
    ) -> Result<(), DeliveryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), SendError>>,
    {
        let now = Utc::now();
        let lease = now + chrono::Duration::seconds(i64::from(self.config.lease_secs));
        match self
            .store
            .notification_claim(key, now, lease)
            .await
            .map_err(store_err)?
        {
            NotificationClaim::Done => {
                r.duplicates += 1;
                return Ok(());
            }
            NotificationClaim::Busy => {
                return Err(DeliveryError::Retryable(format!(
                    "the {} to {} is being sent by another delivery",
                    key.channel, key.recipient
                )));
            }
            NotificationClaim::Claimed => {}
        }
        if let Some(addr) = capped {
            let quota_key = format!("{}:{}", key.channel, addr.to_lowercase());
            let ok = self
                .store
                .notification_quota_take(
                    &quota_key,
                    tg_store::events::quota_day(now),
                    self.config.daily_cap,
                )
                .await
                .map_err(store_err)?;
            if !ok {
                tracing::warn!(channel = %key.channel, "daily message cap reached for a recipient; not sent");
                self.store
                    .notification_finish(key, "skipped", Some("daily cap reached"), Utc::now())
                    .await
                    .map_err(store_err)?;
                r.skipped += 1;
                return Ok(());
            }
        }
        match send().await {
            Ok(()) => {
                self.store
                    .notification_finish(key, "sent", None, Utc::now())
                    .await
                    .map_err(store_err)?;
                metrics::counter!("notifications_sent_total", "channel" => key.channel.clone())
                    .increment(1);
                r.sent += 1;
                Ok(())
            }
            Err(SendError::Permanent(m)) => {
                tracing::warn!(channel = %key.channel, error = %m, "message refused for good; not retried");
                metrics::counter!("notifications_failed_total", "channel" => key.channel.clone())
                    .increment(1);
                self.store
                    .notification_finish(key, "skipped", Some(&m), Utc::now())
                    .await
                    .map_err(store_err)?;
                r.skipped += 1;
                Ok(())
            }
            Err(e @ SendError::Retryable(_)) => {
                metrics::counter!("notifications_failed_total", "channel" => key.channel.clone())
                    .increment(1);
                let _ = self.store.notification_release(key).await;
                Err(send_err(e))
            }
        }
    }

    /// The booking, its buyer and its event, loaded once per event handled.
    async fn subject(&self, booking_id: Uuid) -> Result<Subject, DeliveryError> {
        let booking = self
            .store
            .get_booking(booking_id)
            .await
            .map_err(store_err)?;
        let user = self
            .store
            .get_user(booking.user_id)
            .await
            .map_err(store_err)?;
        let event = self
            .store
            .get_event(booking.event_id, Scope::All)
            .await
            .map_err(store_err)?;
        let lang = if self.templates.has_language(&user.language) {
            user.language.clone()
        } else {
            "en".into()
        };
        Ok(Subject {
            booking,
            user,
            event,
            lang,
        })
    }

    async fn booking_mail(
        &self,
        ev: &CloudEvent,
        s: &Subject,
        template: &'static str,
        extra: serde_json::Value,
        r: &mut Report,
    ) -> Result<(), DeliveryError> {
        let (booking, user, event) = (&s.booking, &s.user, &s.event);
        // Refund and cancellation mails of a cancelled event: its own
        // message (`event.cancelled`) says it all, once.
        if event.status == tg_store::EventStatus::Cancelled
            && matches!(template, "booking_refunded" | "booking_cancelled")
        {
            r.skipped += 1;
            return Ok(());
        }
        let Some(email) = user.email.clone() else {
            r.skipped += 1;
            return Ok(());
        };
        // Tickets are always delivered; other mails follow the preference.
        if template != "booking_confirmed" && !user.notify_email {
            r.skipped += 1;
            return Ok(());
        }
        let to: Mailbox = match format!("{} <{email}>", sanitize_name(&user.name)).parse() {
            Ok(m) => m,
            Err(_) => match email.parse() {
                Ok(m) => m,
                Err(_) => {
                    tracing::warn!(user = %user.id, "stored email address is not deliverable");
                    r.skipped += 1;
                    return Ok(());
                }
            },
        };
        let key = NotificationKey {
            source: ev.source.clone(),
            event_id: ev.id.clone(),
            channel: "email".into(),
            // One message per booking of a fanned-out event.
            recipient: if ev.ty == "event.cancelled" {
                format!("{} {}", email.to_lowercase(), booking.id)
            } else {
                email.to_lowercase()
            },
        };
        let message_id = format!("<{}.{}@ticketgw>", ev.id, short_hash(&key.recipient));
        let stem = format!(
            "{}-{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            ev.ty,
            short_hash(&format!("{}{}", ev.id, key.recipient))
        );
        let mail = self.compose(template, s, extra, true).await?;
        let msg = self.message(&mail, &s.lang, &to, &message_id, &ev.ty)?;
        self.once(&key, Some(&email), r, || async {
            self.mailer.send(msg, &stem).await
        })
        .await
    }

    async fn compose(
        &self,
        template: &'static str,
        s: &Subject,
        mut extra: serde_json::Value,
        with_files: bool,
    ) -> Result<Mail, DeliveryError> {
        let (b, e, lang) = (&s.booking, &s.event, s.lang.as_str());
        let (name, email) = (&s.user.name, s.user.email.as_deref().unwrap_or(""));
        let tz: chrono_tz::Tz = e.timezone.parse().unwrap_or(chrono_tz::UTC);
        let starts = format!(
            "{} ({})",
            e.starts_at.with_timezone(&tz).format("%a, %d %b %Y, %H:%M"),
            e.timezone
        );
        let mut ctx_tickets = Vec::new();
        let mut inline = Vec::new();
        let mut attachments = Vec::new();
        if template == "booking_confirmed" {
            let tickets = self
                .store
                .tickets_of_booking(b.id)
                .await
                .map_err(store_err)?;
            for t in tickets.iter().filter(|t| t.revoked_at.is_none()) {
                let cid = format!("qr-{}", t.id);
                ctx_tickets.push(json!({
                    "id": t.id, "type_name": t.ticket_type_name,
                    "attendee_name": t.attendee_name, "qr_cid": cid,
                }));
                if !with_files {
                    continue;
                }
                let png = tg_tickets::qr::png(&t.code, 4)
                    .map_err(|e| DeliveryError::Permanent(format!("QR: {e}")))?;
                let tt = e.ticket_types.iter().find(|x| x.id == t.ticket_type_id);
                let pdf = tg_tickets::pdf::render(&tg_tickets::pdf::PdfTicket {
                    code: t.code.clone(),
                    event_title: e.title.clone(),
                    venue: e.venue.clone(),
                    city: e.city.clone(),
                    starts_at_local: starts.clone(),
                    ticket_type: t.ticket_type_name.clone(),
                    holder_name: t.attendee_name.clone(),
                    ticket_id: t.id,
                    price: tt
                        .map(|x| money(x.price_cents, x.currency.as_str(), lang))
                        .unwrap_or_default(),
                })
                .map_err(|e| DeliveryError::Permanent(format!("PDF: {e}")))?;
                inline.push((cid, png));
                attachments.push((format!("ticket-{}.pdf", t.id), pdf));
            }
        }
        // Amounts are written in the reader's language.
        if let Some(cents) = extra.get("refund_cents").and_then(|v| v.as_i64()) {
            let currency = extra
                .get("refund_currency")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            let full = extra
                .get("refund_full")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            extra["refund"] = json!({"amount": money(cents, &currency, lang), "full": full});
        }
        if template == "event_cancelled" && b.status == BookingStatus::Refunded {
            extra["refund"] =
                json!({"amount": money(b.total_cents, b.currency.as_str(), lang), "full": true});
        }
        let mut ctx = json!({
            "lang": lang,
            "recipient": {"name": name, "email": email},
            "event": {"title": e.title, "venue": e.venue, "city": e.city, "starts_at": starts},
            "booking": {
                "id": b.id,
                "short_id": b.id.to_string()[..8].to_uppercase(),
                "total": money(b.total_cents, b.currency.as_str(), lang),
                "ticket_count": b.quantity,
            },
            "tickets": ctx_tickets,
            "app_url": self.config.app_url,
            "support_email": self.config.support_email,
        });
        if let (Some(obj), Some(more)) = (ctx.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        Ok(Mail {
            template,
            ctx,
            inline,
            attachments,
        })
    }

    fn message(
        &self,
        m: &Mail,
        lang: &str,
        to: &Mailbox,
        message_id: &str,
        event_type: &str,
    ) -> Result<Message, DeliveryError> {
        let render = |suffix: &str| {
            self.templates
                .render(lang, &format!("{}.{suffix}", m.template), &m.ctx)
                .map_err(|e| DeliveryError::Permanent(format!("template {}: {e:#}", m.template)))
        };
        let subject = render("subject.txt")?.trim().replace(['\r', '\n'], " ");
        let text = render("txt")?;
        let html = render("html")?;
        let body = MultiPart::alternative_plain_html(text, html);
        let mut content = if m.inline.is_empty() {
            body
        } else {
            let mut related = MultiPart::related().multipart(body);
            for (cid, png) in &m.inline {
                related = related.singlepart(
                    Attachment::new_inline(cid.clone()).body(
                        png.clone(),
                        ContentType::parse("image/png")
                            .map_err(|e| DeliveryError::Permanent(e.to_string()))?,
                    ),
                );
            }
            related
        };
        if !m.attachments.is_empty() {
            let mut mixed = MultiPart::mixed().multipart(content);
            for (name, pdf) in &m.attachments {
                mixed = mixed.singlepart(
                    Attachment::new(name.clone()).body(
                        pdf.clone(),
                        ContentType::parse("application/pdf")
                            .map_err(|e| DeliveryError::Permanent(e.to_string()))?,
                    ),
                );
            }
            content = mixed;
        }
        Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(subject)
            .message_id(Some(message_id.to_owned()))
            .user_agent(format!("ticketgw ({event_type})"))
            .multipart(content)
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the message: {e}")))
    }

    /// An account mail (verification, password reset): the recipient and
    /// the link come with the event, as they were when it was asked for.
    /// Always sent (not a marketing preference), within the daily cap.
    async fn account_mail(
        &self,
        ev: &CloudEvent,
        template: &'static str,
        r: &mut Report,
    ) -> Result<(), DeliveryError> {
        let d = ev.data.clone().unwrap_or_default();
        let text = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let (email, link, name) = (text("email"), text("link"), text("name"));
        if email.is_empty() || !(link.starts_with("http://") || link.starts_with("https://")) {
            return Err(DeliveryError::Permanent(format!(
                "`{}` event without `data.email` and `data.link`",
                ev.ty
            )));
        }
        let lang = match text("language") {
            l if self.templates.has_language(&l) => l,
            _ => "en".to_owned(),
        };
        let to: Mailbox = match format!("{} <{email}>", sanitize_name(&name)).parse() {
            Ok(m) => m,
            Err(_) => match email.parse() {
                Ok(m) => m,
                Err(_) => {
                    tracing::warn!(event = %ev.id, "account mail address is not deliverable");
                    r.skipped += 1;
                    return Ok(());
                }
            },
        };
        let key = NotificationKey {
            source: ev.source.clone(),
            event_id: ev.id.clone(),
            channel: "email".into(),
            recipient: email.to_lowercase(),
        };
        let message_id = format!("<{}.{}@ticketgw>", ev.id, short_hash(&key.recipient));
        let stem = format!(
            "{}-{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            ev.ty,
            short_hash(&format!("{}{}", ev.id, key.recipient))
        );
        let mail = Mail {
            template,
            ctx: json!({
                "lang": lang,
                "recipient": {"name": name, "email": email},
                "link": link,
                "app_url": self.config.app_url,
                "support_email": self.config.support_email,
            }),
            inline: Vec::new(),
            attachments: Vec::new(),
        };
        let msg = self.message(&mail, &lang, &to, &message_id, &ev.ty)?;
        self.once(&key, Some(&email), r, || async {
            self.mailer.send(msg, &stem).await
        })
        .await
    }

    async fn confirmation_sms(
        &self,
        ev: &CloudEvent,
        s: &Subject,
        r: &mut Report,
    ) -> Result<(), DeliveryError> {
        let Some(sms) = &self.sms else { return Ok(()) };
        let (true, Some(phone)) = (s.user.notify_sms, s.user.phone.clone()) else {
            return Ok(());
        };
        let mail = self
            .compose("booking_confirmed", s, json!({}), false)
            .await?;
        let text = self
            .templates
            .render(&s.lang, "sms_booking_confirmed.txt", &mail.ctx)
            .map_err(|e| DeliveryError::Permanent(format!("template: {e:#}")))?;
        let key = NotificationKey {
            source: ev.source.clone(),
            event_id: ev.id.clone(),
            channel: "sms".into(),
            recipient: phone.clone(),
        };
        self.once(&key, Some(&phone), r, || async {
            sms.send(&phone, text.trim()).await.map(|_| ())
        })
        .await
    }
}

fn sanitize_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '<' | '>' | '"' | ',' | ';' | ':' | '\\'))
        .collect();
    format!("\"{}\"", clean.trim())
}

fn short_hash(s: &str) -> String {
    // FNV-1a: a stable, short, non-secret name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The notifier as the relay's in-process consumer and as the Lambda
/// handler's sink.
pub struct NotifierSink(pub Arc<Notifier>);

#[async_trait::async_trait]
impl EventSink for NotifierSink {
    async fn deliver(&self, event: &CloudEvent) -> Result<(), DeliveryError> {
        self.0.handle(event).await.map(|_| ())
    }
}

/// The notifier's dead-letter side as a sink (alerts the operators).
pub struct DeadLetterSink(pub Arc<Notifier>);

#[async_trait::async_trait]
impl EventSink for DeadLetterSink {
    async fn deliver(&self, event: &CloudEvent) -> Result<(), DeliveryError> {
        self.0.dead_letter(event).await.map(|_| ())
    }
}
