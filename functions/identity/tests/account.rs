//! Email verification and password reset end to end on every backend:
//! the request writes its mail to the outbox, the notifier renders and
//! "sends" it (as an `.eml` file, as the local platform does), the link in
//! the mail works once and only before it expires; a reset answers the same
//! for unknown addresses, is rate limited, spends older links and ends
//! every session.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tg_events::CloudEvent;
use tg_testkit::{TestApp, TestDb, problem, spawn_app_with};

const WEB: &str = "https://tickets.example.test";
const PASSWORD: &str = "a long enough password";

fn routes(state: tg_platform::AppState) -> Router {
    identity::router(state.clone()).merge(accounts::router(state))
}

struct Setup {
    app: TestApp,
    notifier: Arc<notifications::Notifier>,
    mail_dir: PathBuf,
    _dir: tempfile::TempDir,
}

async fn setups(env: &[(&str, &str)]) -> Vec<Setup> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let mut env = env.to_vec();
        env.push(("TICKETGW_WEB_URL", WEB));
        let app = spawn_app_with(db, routes, &env).await;
        let dir = tempfile::tempdir().unwrap();
        let mail_dir = dir.path().join("mail");
        let md = mail_dir.display().to_string();
        let config = notifications::NotifyConfig::from_lookup(
            |k| (k == "TICKETGW_MAIL_DIR").then(|| md.clone()),
            &app.state.config,
        )
        .unwrap();
        let notifier =
            Arc::new(notifications::Notifier::new(app.state.store.clone(), config).unwrap());
        out.push(Setup {
            app,
            notifier,
            mail_dir,
            _dir: dir,
        });
    }
    out
}

/// Delivers every outbox event of `ty` after `seq` to the notifier (as the
/// relay does); the events.
async fn deliver(s: &Setup, ty: &str) -> Vec<CloudEvent> {
    let rows = s.app.state.store.outbox_after(0, 10_000).await.unwrap();
    let mut out = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.event_type == ty && r.sent_at.is_none())
    {
        let ev = CloudEvent::from_outbox(row);
        s.notifier.handle(&ev).await.unwrap();
        s.app
            .state
            .store
            .outbox_mark_sent(&[row.seq], Utc::now())
            .await
            .unwrap();
        out.push(ev);
    }
    out
}

fn mails(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_else(|_| Vec::new());
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The mail's readable text: quoted-printable undone (soft breaks and
/// `=XX`) and base64 parts decoded, enough to read links and wording.
fn unqp(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    // Base64 parts: the lines after a base64 header block up to the boundary.
    let mut in_b64 = false;
    let mut body = false;
    let mut chunk = String::new();
    for line in mail.lines() {
        let line = line.trim_end();
        if line.eq_ignore_ascii_case("Content-Transfer-Encoding: base64") {
            in_b64 = true;
            body = false;
        } else if in_b64 && !body && line.is_empty() {
            body = true;
        } else if in_b64 && body && (line.starts_with("--") || line.is_empty()) {
            use base64::Engine;
            if let Ok(d) = base64::engine::general_purpose::STANDARD.decode(&chunk) {
                text.push_str(&String::from_utf8_lossy(&d));
            }
            chunk.clear();
            in_b64 = false;
            body = false;
        } else if in_b64 && body {
            chunk.push_str(line);
        }
    }
    text
}

/// The link to `path` in a mail, with its token.
fn link_in(mail: &str, path: &str) -> (String, String) {
    let text = unqp(mail);
    let prefix = format!("{WEB}/{path}?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    let token: String = text[start + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (format!("{prefix}{token}"), token)
}

async fn register(app: &TestApp, email: &str) {
    let r = app
        .post_json(
            "/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "name": "Ann"}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.request(reqwest::Method::GET, "/v1/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn email_verification_end_to_end() {
    for s in setups(&[]).await {
        let app = &s.app;
        register(app, "vera@example.test").await;
        let events = deliver(&s, "account.verification_requested").await;
        assert_eq!(events.len(), 1);
        // The token itself is stored only hashed.
        let mail = mails(&s.mail_dir).pop().expect("a verification mail");
        assert!(
            mail.contains("To: ") && mail.contains("vera@example.test>"),
            "{mail}"
        );
        assert!(unqp(&mail).contains("Confirm your email address"));
        let (link, token) = link_in(&mail, "verify-email");
        assert!(token.starts_with("tgv_") && token.len() >= 4 + 43, "{link}");
        // Redelivery sends nothing more.
        let r = s.notifier.handle(&events[0]).await.unwrap();
        assert_eq!((r.sent, r.duplicates), (0, 1));
        assert_eq!(mails(&s.mail_dir).len(), 1);

        let t: Value = login(app, "vera@example.test", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let access = t["access_token"].as_str().unwrap().to_string();
        assert_eq!(me(app, &access).await["email_verified"], false);

        let r = app
            .post_json("/v1/auth/verify-email", &json!({"token": token}))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"email_verified": true})
        );
        assert_eq!(me(app, &access).await["email_verified"], true);
        // Single use; unknown tokens alike.
        for bad in [token.as_str(), "tgv_unknown", "nonsense"] {
            let p = problem(
                app.post_json("/v1/auth/verify-email", &json!({"token": bad}))
                    .await,
                400,
            )
            .await;
            assert_eq!(p["code"], "invalid_token");
        }
        // Verified: resending has nothing to do.
        let r = app
            .request(reqwest::Method::POST, "/v1/auth/verify-email/resend")
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(r.json::<Value>().await.unwrap()["email_verified"], true);
        assert!(
            deliver(&s, "account.verification_requested")
                .await
                .is_empty()
        );

        // Resend for an unverified account, in its language; rate limited.
        register(app, "otto@example.test").await;
        deliver(&s, "account.verification_requested").await;
        let t: Value = login(app, "otto@example.test", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let otto = t["access_token"].as_str().unwrap().to_string();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let r = app
                .request(reqwest::Method::POST, "/v1/auth/verify-email/resend")
                .bearer_auth(&otto)
                .header("accept-language", "de-DE")
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                assert!(r.headers().get("retry-after").is_some());
                assert_eq!(problem(r, 429).await["code"], "rate_limited");
            }
        }
        assert_eq!(statuses, [202, 202, 202, 429]);
        assert_eq!(deliver(&s, "account.verification_requested").await.len(), 3);
        let german = mails(&s.mail_dir).pop().unwrap();
        let german = unqp(&german);
        assert!(german.contains("E-Mail-Adresse bestätigen"), "{german}");
        assert!(german.contains("/verify-email?token=tgv_"));
        // Not signed in: 401.
        assert_eq!(
            app.request(reqwest::Method::POST, "/v1/auth/verify-email/resend")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );

        // Expired tokens do not verify.
        let user = app
            .state
            .store
            .local_credentials(tg_store::BUILTIN_ISSUER, "otto@example.test")
            .await
            .unwrap()
            .unwrap()
            .0;
        let old = Utc::now() - Duration::hours(25);
        app.state
            .store
            .create_account_token(&tg_store::NewAccountToken {
                token_hash: tg_idp::oidc::hash("tgv_expired-token"),
                user_id: user.id,
                purpose: tg_store::TokenPurpose::VerifyEmail,
                email: "otto@example.test".into(),
                created_at: old,
                expires_at: old + Duration::hours(24),
                mail: json!({}),
            })
            .await
            .unwrap();
        let p = problem(
            app.post_json(
                "/v1/auth/verify-email",
                &json!({"token": "tgv_expired-token"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(p["code"], "invalid_token");
        assert_eq!(me(app, &otto).await["email_verified"], false);
        // The expiry worker's prune removes it (and keeps live tokens).
        let pruned = app
            .state
            .store
            .prune_account_tokens(Utc::now())
            .await
            .unwrap();
        assert_eq!(pruned, 1);
    }
}

#[tokio::test]
async fn password_reset_end_to_end() {
    for s in setups(&[]).await {
        let app = &s.app;
        register(app, "rita@example.test").await;
        deliver(&s, "account.verification_requested").await;
        let t: Value = login(app, "rita@example.test", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let session = t["refresh_token"].as_str().unwrap().to_string();

        // The same answer, and similar timing, for an unknown address.
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        let mut bodies = Vec::new();
        for (email, times) in [
            ("rita@example.test", &mut known),
            ("nobody@example.test", &mut unknown),
        ] {
            let start = Instant::now();
            let r = app
                .post_json("/v1/auth/password-reset", &json!({"email": email}))
                .await;
            times.push(start.elapsed().as_secs_f64());
            assert_eq!(r.status(), 202);
            bodies.push(r.text().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1]);
        let (k, u) = (known[0], unknown[0]);
        assert!(
            k / u < 2.0 && u / k < 2.0,
            "known {k:.3}s vs unknown {u:.3}s"
        );
        assert_eq!(
            deliver(&s, "account.password_reset_requested").await.len(),
            1
        );
        let (_, first) = link_in(&mails(&s.mail_dir).pop().unwrap(), "reset-password");
        assert!(first.starts_with("tgp_"));

        // A newer request spends the older link.
        let r = app
            .post_json(
                "/v1/auth/password-reset",
                &json!({"email": "RITA@example.test"}),
            )
            .await;
        assert_eq!(r.status(), 202);
        deliver(&s, "account.password_reset_requested").await;
        let mail = mails(&s.mail_dir).pop().unwrap();
        assert!(unqp(&mail).contains("Reset your password"));
        let (_, second) = link_in(&mail, "reset-password");
        assert_ne!(first, second);
        let p = problem(
            app.post_json(
                "/v1/auth/password-reset/confirm",
                &json!({"token": first, "password": "a brand new password"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(p["code"], "invalid_token");

        // Password rules as at registration; nothing is spent.
        let p = problem(
            app.post_json(
                "/v1/auth/password-reset/confirm",
                &json!({"token": second, "password": "short"}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(p["code"], "validation_failed");
        assert_eq!(p["errors"][0]["field"], "password");

        let r = app
            .post_json(
                "/v1/auth/password-reset/confirm",
                &json!({"token": second, "password": "a brand new password"}),
            )
            .await;
        assert_eq!(r.status(), 204);
        // Single use.
        let p = problem(
            app.post_json(
                "/v1/auth/password-reset/confirm",
                &json!({"token": second, "password": "yet another password"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(p["code"], "invalid_token");
        // Every session ended; the new password works, the old does not.
        let p = problem(
            app.post_json("/v1/auth/refresh", &json!({"refresh_token": session}))
                .await,
            401,
        )
        .await;
        assert_eq!(p["code"], "invalid_refresh_token");
        assert_eq!(
            login(app, "rita@example.test", PASSWORD).await.status(),
            401
        );
        let r = login(app, "rita@example.test", "a brand new password").await;
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        // The mail reached its owner: the address is verified.
        assert_eq!(
            me(app, t["access_token"].as_str().unwrap()).await["email_verified"],
            true
        );

        // Expired links do not work.
        let user = app
            .state
            .store
            .local_credentials(tg_store::BUILTIN_ISSUER, "rita@example.test")
            .await
            .unwrap()
            .unwrap()
            .0;
        let old = Utc::now() - Duration::minutes(61);
        app.state
            .store
            .create_account_token(&tg_store::NewAccountToken {
                token_hash: tg_idp::oidc::hash("tgp_expired-token"),
                user_id: user.id,
                purpose: tg_store::TokenPurpose::PasswordReset,
                email: "rita@example.test".into(),
                created_at: old,
                expires_at: old + Duration::minutes(60),
                mail: json!({}),
            })
            .await
            .unwrap();
        let p = problem(
            app.post_json(
                "/v1/auth/password-reset/confirm",
                &json!({"token": "tgp_expired-token", "password": "an expired attempt"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(p["code"], "invalid_token");
        // A verification token is not a reset token.
        let p = problem(
            app.post_json(
                "/v1/auth/password-reset/confirm",
                &json!({"token": "tgv_whatever", "password": "an expired attempt"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(p["code"], "invalid_token");
    }
}

#[tokio::test]
async fn password_reset_is_rate_limited_per_address_and_per_ip() {
    let s = setups(&[
        ("TICKETGW_AUTH_RATE_PER_ACCOUNT", "2"),
        ("TICKETGW_AUTH_RATE_PER_IP", "50"),
    ])
    .await
    .remove(0);
    register(&s.app, "lim@example.test").await;
    for email in ["lim@example.test", "ghost@example.test"] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let r = s
                .app
                .post_json("/v1/auth/password-reset", &json!({"email": email}))
                .await;
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                assert!(r.headers().get("retry-after").is_some());
                assert_eq!(problem(r, 429).await["code"], "rate_limited");
            }
        }
        // Existing or not, the same.
        assert_eq!(statuses, [202, 202, 429], "{email}");
    }
    let s = setups(&[("TICKETGW_AUTH_RATE_PER_IP", "3")])
        .await
        .remove(0);
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            s.app
                .post_json(
                    "/v1/auth/password-reset",
                    &json!({"email": format!("u{i}@example.test")}),
                )
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    // Not an address: 422, nothing counted against anyone.
    let p = problem(
        s.app
            .post_json("/v1/auth/password-reset", &json!({"email": "nope"}))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "email");
}

#[tokio::test]
async fn registration_keeps_the_chosen_language_for_the_profile_and_the_mail() {
    for s in setups(&[]).await {
        let app = &s.app;
        let p = problem(
            app.post_json(
                "/v1/auth/register",
                &json!({"email": "fr@example.test", "password": PASSWORD, "name": "Fra", "language": "fr"}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "language", "{p}");
        let r = app
            .post_json(
                "/v1/auth/register",
                &json!({"email": "greta@example.test", "password": PASSWORD, "name": "Greta", "language": "de"}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let events = deliver(&s, "account.verification_requested").await;
        assert_eq!(events.len(), 1, "the refused registration wrote nothing");
        let mail = unqp(&mails(&s.mail_dir).pop().expect("a verification mail"));
        assert!(mail.contains("E-Mail-Adresse"), "a German mail: {mail}");
        let t: Value = login(app, "greta@example.test", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let me = me(app, t["access_token"].as_str().unwrap()).await;
        assert_eq!(me["language"], "de", "{me}");
    }
}
