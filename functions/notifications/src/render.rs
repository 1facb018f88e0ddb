//! Message templates (minijinja, embedded at build time from
//! `templates/<lang>/`): a subject, a text and an HTML body per email kind,
//! an SMS text, and the ops alert. HTML templates are auto-escaped.

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

pub struct Templates {
    env: minijinja::Environment<'static>,
    languages: Vec<String>,
}

impl Templates {
    pub fn new() -> anyhow::Result<Self> {
        let mut env = minijinja::Environment::new();
        let mut languages = Vec::new();
        for (name, source) in embedded::TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
            if let Some((lang, _)) = name.split_once('/')
                && !languages.iter().any(|l| l == lang)
            {
                languages.push(lang.to_owned());
            }
        }
        anyhow::ensure!(
            languages.iter().any(|l| l == "en"),
            "the English templates are missing"
        );
        Ok(Templates { env, languages })
    }

    pub fn has_language(&self, lang: &str) -> bool {
        self.languages.iter().any(|l| l == lang)
    }

    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Renders `<lang>/<name>` with `ctx`.
    pub fn render(
        &self,
        lang: &str,
        name: &str,
        ctx: &serde_json::Value,
    ) -> anyhow::Result<String> {
        let t = self.env.get_template(&format!("{lang}/{name}"))?;
        Ok(t.render(minijinja::value::Serde(ctx))?)
    }
}

/// An amount in minor units as people read it: `EUR 90.00`, `JPY 500`, or
/// "free" in the reader's language.
pub fn money(cents: i64, currency: &str, lang: &str) -> String {
    if cents == 0 {
        return if lang == "de" {
            "kostenlos".into()
        } else {
            "free".into()
        };
    }
    let digits = tg_store::Currency::parse(currency)
        .map(|c| c.minor_units())
        .unwrap_or(2);
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    if digits == 0 {
        return format!("{currency} {sign}{abs}");
    }
    let div = 10u64.pow(u32::from(digits));
    let sep = if lang == "de" { "," } else { "." };
    format!(
        "{currency} {sign}{}{sep}{:0width$}",
        abs / div,
        abs % div,
        width = usize::from(digits)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats() {
        assert_eq!(money(9000, "EUR", "en"), "EUR 90.00");
        assert_eq!(money(905, "EUR", "de"), "EUR 9,05");
        assert_eq!(money(500, "JPY", "en"), "JPY 500");
        assert_eq!(money(0, "EUR", "de"), "kostenlos");
    }

    #[test]
    fn every_template_renders_in_every_language() {
        let t = Templates::new().expect("templates");
        assert!(t.has_language("en") && t.has_language("de"));
        let ctx = serde_json::json!({
            "lang": "en",
            "recipient": {"name": "Ada <script>", "email": "ada@example.org"},
            "event": {"title": "Jazz & <b>Blues</b>", "venue": "Hall", "city": "Berlin", "starts_at": "Sat, 12 Dec 2026, 19:30 (Europe/Berlin)"},
            "booking": {"id": "0192", "short_id": "0192ABCD", "total": "EUR 90.00", "ticket_count": 2},
            "tickets": [{"id": "t1", "type_name": "GA", "attendee_name": "", "qr_cid": "qr-t1"}],
            "reason": "", "refund": {"amount": "EUR 90.00", "full": true},
            "alert": {"title": "x", "detail": "y", "event_type": "t", "event_id": "1", "source": "/s", "attempts": "5"},
            "app_url": "http://127.0.0.1:8080", "support_email": "help@example.org",
        });
        for lang in t.languages() {
            for kind in [
                "booking_confirmed",
                "booking_cancelled",
                "booking_expired",
                "booking_refunded",
                "event_cancelled",
            ] {
                for suffix in ["subject.txt", "txt", "html"] {
                    let out = t
                        .render(lang, &format!("{kind}.{suffix}"), &ctx)
                        .expect("render");
                    assert!(!out.trim().is_empty(), "{lang}/{kind}.{suffix}");
                    if suffix == "html" {
                        assert!(!out.contains("<script>"), "HTML is escaped");
                        assert!(out.contains("&lt;b&gt;Blues"), "HTML is escaped");
                    }
                }
            }
            for kind in ["account_verify", "account_password_reset"] {
                let ctx = serde_json::json!({
                    "lang": lang,
                    "recipient": {"name": "Ada <script>", "email": "ada@example.org"},
                    "link": "https://tickets.example.org/verify-email?token=tgv_abc&x=<y>",
                    "app_url": "https://tickets.example.org", "support_email": "help@example.org",
                });
                for suffix in ["subject.txt", "txt", "html"] {
                    let out = t
                        .render(lang, &format!("{kind}.{suffix}"), &ctx)
                        .expect("render");
                    assert!(!out.trim().is_empty(), "{lang}/{kind}.{suffix}");
                    if suffix == "txt" {
                        assert!(
                            out.contains("https://tickets.example.org/verify-email?token=tgv_abc")
                        );
                    }
                    if suffix == "html" {
                        assert!(
                            !out.contains("<script>") && !out.contains("<y>"),
                            "HTML is escaped"
                        );
                        assert!(out.contains("token=tgv_abc&amp;x=&lt;y&gt;"));
                        assert!(
                            !out.contains("booking"),
                            "{lang}/{kind}: no booking wording"
                        );
                    }
                }
            }
            assert!(
                t.render(lang, "sms_booking_confirmed.txt", &ctx)
                    .expect("sms")
                    .len()
                    < 400
            );
            assert!(
                t.render(lang, "alert.txt", &ctx)
                    .expect("alert")
                    .contains('x')
            );
        }
    }
}
