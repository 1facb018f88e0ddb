//! The provider's own pages (sign-in, errors, signed out): server-rendered
//! HTML in English and German, usable without JavaScript, mobile first,
//! with labelled fields and errors tied to their fields.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.split(['-', '_']).next().unwrap_or("").trim();
        if primary.eq_ignore_ascii_case("de") {
            Some(Lang::De)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first supported tag of `ui_locales` (space-separated), else the
    /// preferred supported language of `Accept-Language`, else English.
    pub fn from_headers(ui_locales: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(l) = ui_locales
            .into_iter()
            .flat_map(|v| v.split_whitespace())
            .find_map(Lang::parse)
        {
            return l;
        }
        let Some(accept) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::En;
        };
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in accept.split(',').enumerate().take(20) {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Lang::parse) else {
                continue;
            };
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l).unwrap_or(Lang::En)
    }
}

/// HTML-escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn t(lang: Lang, en: &'static str, de: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::De => de,
    }
}

const STYLE: &str = "*{box-sizing:border-box}\
body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif}\
main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}\
.card{background:#fff;border:1px solid #d1d5db;border-radius:.5rem;padding:1.5rem}\
.brand{font-weight:700;font-size:1.125rem;margin:0 0 1rem}\
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .25rem}\
.lead{margin:0 0 1.25rem;color:#374151}\
.field{margin:0 0 1rem}\
label{display:block;font-weight:600;margin:0 0 .25rem}\
input[type=email],input[type=password]{display:block;width:100%;font:inherit;padding:.625rem .75rem;border:1px solid #6b7280;border-radius:.375rem;background:#fff;color:#111827}\
input[aria-invalid=true]{border-color:#b91c1c;border-width:2px}\
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}\
button{display:block;width:100%;font:inherit;font-weight:600;padding:.75rem 1rem;border:0;border-radius:.375rem;background:#1d4ed8;color:#fff;cursor:pointer}\
button:hover{background:#1e40af}\
.alert{border:1px solid #b91c1c;background:#fef2f2;color:#7f1d1d;border-radius:.375rem;padding:.75rem;margin:0 0 1rem}\
.field-error{color:#b91c1c;margin:.25rem 0 0;font-size:.9375rem}\
a{color:#1d4ed8;text-decoration:underline}\
.links{margin:1.25rem 0 0;padding:0;list-style:none}\
.links li{margin:.5rem 0}\
@media (min-width:40rem){main{padding-top:4rem}.card{padding:2rem}}";

fn document(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title} – Ticket Gateway</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n<div class=\"card\">\n\
         <p class=\"brand\">Ticket Gateway</p>\n{body}</div>\n</main>\n</body>\n</html>\n",
        lang = lang.code(),
        title = esc(title),
    )
}

/// An HTML response that is never cached, framed or allowed to load
/// anything but its own inline style.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// What went wrong with a sign-in attempt, as the form shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    MissingEmail,
    MissingPassword,
    MissingBoth,
    InvalidCredentials,
    Throttled,
    Suspended,
    Captcha,
    Unavailable,
}

impl FormError {
    fn message(self, lang: Lang) -> &'static str {
        match self {
            FormError::MissingEmail => t(
                lang,
                "Enter your email address.",
                "Gib deine E-Mail-Adresse ein.",
            ),
            FormError::MissingPassword => t(lang, "Enter your password.", "Gib dein Passwort ein."),
            FormError::MissingBoth => t(
                lang,
                "Enter your email address and your password.",
                "Gib deine E-Mail-Adresse und dein Passwort ein.",
            ),
            FormError::InvalidCredentials => t(
                lang,
                "The email address or the password is wrong.",
                "Die E-Mail-Adresse oder das Passwort ist falsch.",
            ),
            FormError::Throttled => t(
                lang,
                "Too many attempts. Please wait a moment, then try again.",
                "Zu viele Versuche. Bitte warte einen Moment und versuche es dann erneut.",
            ),
            FormError::Suspended => t(
                lang,
                "This account is suspended. Please contact support.",
                "Dieses Konto ist gesperrt. Bitte wende dich an den Support.",
            ),
            FormError::Captcha => t(
                lang,
                "We could not confirm that you are a person. Please try again.",
                "Wir konnten nicht bestätigen, dass du ein Mensch bist. Bitte versuche es erneut.",
            ),
            FormError::Unavailable => t(
                lang,
                "Signing in is not possible right now. Please try again later.",
                "Die Anmeldung ist gerade nicht möglich. Bitte versuche es später erneut.",
            ),
        }
    }
}

/// The sign-in page.
pub struct SignIn<'a> {
    pub lang: Lang,
    /// The sealed authorization request (hidden field).
    pub request: &'a str,
    pub email: &'a str,
    pub error: Option<FormError>,
    pub web_url: &'a str,
}

pub fn sign_in(p: &SignIn<'_>) -> String {
    let lang = p.lang;
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"lead\">{}</p>\n",
        t(lang, "Sign in", "Anmelden"),
        t(
            lang,
            "Sign in to continue to Ticket Gateway.",
            "Melde dich an, um mit Ticket Gateway fortzufahren."
        )
    ));
    let (email_err, password_err, general) = match p.error {
        None => (false, false, None),
        Some(FormError::MissingEmail) => (true, false, None),
        Some(FormError::MissingPassword) => (false, true, None),
        Some(FormError::MissingBoth) => (true, true, None),
        Some(FormError::InvalidCredentials) => (true, true, p.error),
        Some(other) => (false, false, Some(other)),
    };
    if let Some(e) = general {
        body.push_str(&format!(
            "<div class=\"alert\" role=\"alert\" id=\"form-error\">{}</div>\n",
            esc(e.message(lang))
        ));
    }
    let invalid_credentials = p.error == Some(FormError::InvalidCredentials);
    body.push_str(&format!(
        "<form method=\"post\" action=\"/v1/auth/authorize\" novalidate>\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n",
        esc(p.request)
    ));
    // Email.
    let describe = |own: bool, id: &str| -> String {
        let mut ids = Vec::new();
        if own {
            ids.push(id.to_string());
        }
        if invalid_credentials {
            ids.push("form-error".into());
        }
        if ids.is_empty() {
            String::new()
        } else {
            format!(
                " aria-invalid=\"true\" aria-describedby=\"{}\"",
                ids.join(" ")
            )
        }
    };
    let focus_email = email_err || p.error.is_none();
    let email_own = email_err && !invalid_credentials;
    body.push_str(&format!(
        "<div class=\"field\">\n<label for=\"email\">{}</label>\n\
         <input id=\"email\" name=\"email\" type=\"email\" inputmode=\"email\" autocomplete=\"username\" \
         autocapitalize=\"none\" spellcheck=\"false\" required value=\"{}\"{}{}>\n",
        t(lang, "Email address", "E-Mail-Adresse"),
        esc(p.email),
        describe(email_own, "email-error"),
        if focus_email { " autofocus" } else { "" },
    ));
    if email_own {
        body.push_str(&format!(
            "<p class=\"field-error\" id=\"email-error\">{}</p>\n",
            esc(FormError::MissingEmail.message(lang))
        ));
    }
    body.push_str("</div>\n");
    // Password.
    let password_own = password_err && !invalid_credentials;
    body.push_str(&format!(
        "<div class=\"field\">\n<label for=\"password\">{}</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{}{}>\n",
        t(lang, "Password", "Passwort"),
        describe(password_own, "password-error"),
        if password_err && !email_err {
            " autofocus"
        } else {
            ""
        },
    ));
    if password_own {
        body.push_str(&format!(
            "<p class=\"field-error\" id=\"password-error\">{}</p>\n",
            esc(FormError::MissingPassword.message(lang))
        ));
    }
    body.push_str("</div>\n");
    body.push_str(&format!(
        "<button type=\"submit\">{}</button>\n</form>\n",
        t(lang, "Sign in", "Anmelden")
    ));
    let web = p.web_url.trim_end_matches('/');
    body.push_str(&format!(
        "<ul class=\"links\">\n<li><a href=\"{}/forgot-password\">{}</a></li>\n\
         <li>{} <a href=\"{}/register\">{}</a></li>\n</ul>\n",
        esc(web),
        t(lang, "Forgot your password?", "Passwort vergessen?"),
        t(lang, "New to Ticket Gateway?", "Neu bei Ticket Gateway?"),
        esc(web),
        t(lang, "Create an account", "Konto erstellen"),
    ));
    document(lang, t(lang, "Sign in", "Anmelden"), &body)
}

/// Why the provider refuses to continue (never redirected: the client or
/// its redirect URI is not trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownClient,
    BadRedirect,
    Expired,
    BadLogoutRedirect,
}

pub fn error_page(lang: Lang, why: Refusal, web_url: &str) -> String {
    let (title, text) = match why {
        Refusal::UnknownClient => (
            t(lang, "Unknown application", "Unbekannte Anwendung"),
            t(
                lang,
                "The application that sent you here is not registered with Ticket Gateway, so we cannot sign you in to it.",
                "Die Anwendung, die dich hierher geschickt hat, ist bei Ticket Gateway nicht registriert. Deshalb können wir dich dort nicht anmelden.",
            ),
        ),
        Refusal::BadRedirect => (
            t(
                lang,
                "Sign-in request not accepted",
                "Anmeldeanfrage abgelehnt",
            ),
            t(
                lang,
                "The address this sign-in would return you to is not registered for the application, so we stopped here to protect your account.",
                "Die Adresse, zu der diese Anmeldung zurückführen würde, ist für die Anwendung nicht registriert. Zum Schutz deines Kontos haben wir hier angehalten.",
            ),
        ),
        Refusal::Expired => (
            t(
                lang,
                "This sign-in form has expired",
                "Dieses Anmeldeformular ist abgelaufen",
            ),
            t(
                lang,
                "Please go back to Ticket Gateway and start signing in again.",
                "Bitte kehre zu Ticket Gateway zurück und starte die Anmeldung erneut.",
            ),
        ),
        Refusal::BadLogoutRedirect => (
            t(
                lang,
                "Sign-out address not accepted",
                "Abmeldeadresse abgelehnt",
            ),
            t(
                lang,
                "The address this sign-out would return you to is not registered for the application.",
                "Die Adresse, zu der diese Abmeldung zurückführen würde, ist für die Anwendung nicht registriert.",
            ),
        ),
    };
    let body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"{}/\">{}</a></p>\n",
        esc(title),
        esc(text),
        esc(web_url.trim_end_matches('/')),
        t(lang, "Go to Ticket Gateway", "Zu Ticket Gateway"),
    );
    document(lang, title, &body)
}

pub fn signed_out(lang: Lang, web_url: &str) -> String {
    let title = t(lang, "You are signed out", "Du bist abgemeldet");
    let body = format!(
        "<h1>{}</h1>\n<p><a href=\"{}/\">{}</a></p>\n",
        esc(title),
        esc(web_url.trim_end_matches('/')),
        t(lang, "Go to Ticket Gateway", "Zu Ticket Gateway"),
    );
    document(lang, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(None, &h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr-FR, de-DE;q=0.8, en;q=0.5"),
        );
        assert_eq!(Lang::from_headers(None, &h), Lang::De);
        assert_eq!(Lang::from_headers(Some("en de"), &h), Lang::En);
        assert_eq!(Lang::from_headers(Some("fr de-AT"), &h), Lang::De);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("de;q=0.2, en-GB"),
        );
        assert_eq!(Lang::from_headers(None, &h), Lang::En);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn errors_are_tied_to_fields() {
        for lang in [Lang::En, Lang::De] {
            let page = sign_in(&SignIn {
                lang,
                request: "r",
                email: "a@b.test",
                error: Some(FormError::InvalidCredentials),
                web_url: "http://w",
            });
            assert!(page.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(page.contains("aria-describedby=\"form-error\""));
            assert!(page.contains("id=\"form-error\""));
            let page = sign_in(&SignIn {
                lang,
                request: "r",
                email: "",
                error: Some(FormError::MissingEmail),
                web_url: "http://w",
            });
            assert!(page.contains("aria-describedby=\"email-error\""));
            assert!(page.contains("id=\"email-error\""));
        }
    }
}
