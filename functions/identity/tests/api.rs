//! The built-in identity provider over HTTP on every backend: accounts,
//! tokens the shared verifier accepts, refresh rotation and reuse
//! detection, logout, abuse limits, CAPTCHA (against a local server that
//! speaks the siteverify protocol), and the OIDC documents.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tg_testkit::{TestApp, TestDb, problem, spawn_app_with};

/// identity + accounts (for /v1/me, to prove the tokens work elsewhere).
fn routes(state: tg_platform::AppState) -> Router {
    identity::router(state.clone()).merge(accounts::router(state))
}

async fn apps(env: &[(&str, &str)]) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDb::all().await {
        apps.push(spawn_app_with(db, routes, env).await);
    }
    apps
}

async fn register(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/v1/auth/register",
        &json!({"email": email, "password": password, "name": "Ann"}),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.request(reqwest::Method::GET, "/v1/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn register_login_use_refresh_logout() {
    for app in apps(&[]).await {
        let r = register(&app, "Ann@Example.test", "a long enough password").await;
        assert_eq!(r.status(), 201);
        let acct: Value = r.json().await.unwrap();
        assert_eq!(acct["email"], "ann@example.test");
        assert!(acct.get("password").is_none() && acct.get("password_hash").is_none());
        let p = problem(
            register(&app, "ann@example.TEST", "another long password").await,
            409,
        )
        .await;
        assert_eq!(p["code"], "email_taken");

        let r = login(&app, "ANN@example.test", "a long enough password").await;
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        assert_eq!(
            (t["token_type"].as_str(), t["expires_in"].as_i64()),
            (Some("Bearer"), Some(900))
        );
        let access = t["access_token"].as_str().unwrap();
        let refresh1 = t["refresh_token"].as_str().unwrap().to_string();
        let profile: Value = me(&app, access).await.json().await.unwrap();
        assert_eq!(profile["email"], "ann@example.test");
        assert_eq!(profile["roles"], json!(["user"]));

        // Rotation: each refresh token works once.
        let r = app
            .post_json("/v1/auth/refresh", &json!({"refresh_token": refresh1}))
            .await;
        assert_eq!(r.status(), 200);
        let t2: Value = r.json().await.unwrap();
        let refresh2 = t2["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(refresh1, refresh2);
        assert_eq!(
            me(&app, t2["access_token"].as_str().unwrap())
                .await
                .status(),
            200
        );
        // Reusing the spent one revokes the whole family, refresh2 included.
        let p = problem(
            app.post_json("/v1/auth/refresh", &json!({"refresh_token": refresh1}))
                .await,
            401,
        )
        .await;
        assert_eq!(p["code"], "refresh_token_reused");
        let p = problem(
            app.post_json("/v1/auth/refresh", &json!({"refresh_token": refresh2}))
                .await,
            401,
        )
        .await;
        assert_eq!(p["code"], "invalid_refresh_token");

        // Logout ends a session.
        let t3: Value = login(&app, "ann@example.test", "a long enough password")
            .await
            .json()
            .await
            .unwrap();
        let refresh3 = t3["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.post_json("/v1/auth/logout", &json!({"refresh_token": refresh3}))
                .await
                .status(),
            204
        );
        assert_eq!(
            app.post_json("/v1/auth/refresh", &json!({"refresh_token": refresh3}))
                .await
                .status(),
            401
        );
        assert_eq!(
            app.post_json("/v1/auth/logout", &json!({"refresh_token": "tgr_unknown"}))
                .await
                .status(),
            204
        );
    }
}

#[tokio::test]
async fn registration_input_and_mass_assignment() {
    for app in apps(&[]).await {
        for (body, field) in [
            (
                json!({"email": "not-an-email", "password": "a long enough password", "name": "A"}),
                "email",
            ),
            (
                json!({"email": "a@b.test", "password": "short", "name": "A"}),
                "password",
            ),
            (
                json!({"email": "a@b.test", "password": "a@b.test", "name": "A"}),
                "password",
            ),
            (
                json!({"email": "a@b.test", "password": "a long enough password", "name": ""}),
                "name",
            ),
            (
                json!({"email": "a@b.test", "password": "a long enough password", "name": "A", "roles": ["admin"]}),
                "roles",
            ),
            (
                json!({"email": "a@b.test", "password": "a long enough password", "name": "A", "status": "active"}),
                "status",
            ),
        ] {
            let p = problem(app.post_json("/v1/auth/register", &body).await, 422).await;
            let fields: Vec<_> = p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect();
            assert!(fields.contains(&field.to_string()), "{body}: {p}");
        }
        assert!(
            app.state
                .store
                .local_credentials(tg_store::BUILTIN_ISSUER, "a@b.test")
                .await
                .unwrap()
                .is_none(),
            "nothing written"
        );
        // PATCH /v1/me cannot grant roles or change the email.
        register(&app, "m@example.test", "a long enough password").await;
        let t: Value = login(&app, "m@example.test", "a long enough password")
            .await
            .json()
            .await
            .unwrap();
        let token = t["access_token"].as_str().unwrap();
        for body in [
            json!({"roles": ["admin"]}),
            json!({"email": "x@y.test"}),
            json!({"status": "active"}),
        ] {
            let r = app
                .request(reqwest::Method::PATCH, "/v1/me")
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(problem(r, 422).await["code"], "validation_failed");
        }
        let r = app
            .request(reqwest::Method::PATCH, "/v1/me")
            .bearer_auth(token)
            .json(&json!({"phone": "+49 30 123456", "notify_sms": true, "name": "Mia"}))
            .send()
            .await
            .unwrap();
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            (
                p["phone"].as_str(),
                p["notify_sms"].as_bool(),
                p["roles"].clone()
            ),
            (Some("+4930123456"), Some(true), json!(["user"]))
        );
        let r = app
            .request(reqwest::Method::PATCH, "/v1/me")
            .bearer_auth(token)
            .json(&json!({"phone": "0301234"}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 422).await["errors"][0]["field"], "phone");
    }
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let app = apps(&[]).await.remove(0);
    register(&app, "real@example.test", "a long enough password").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        // Different accounts each round so the failure backoff does not kick in.
        let t = Instant::now();
        let a = problem(
            login(&app, "real@example.test", &format!("wrong password {i}")).await,
            401,
        )
        .await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        let b = problem(
            login(&app, &format!("ghost{i}@example.test"), "whatever password").await,
            401,
        )
        .await;
        unknown.push(t.elapsed());
        assert_eq!(a, b, "identical bodies");
    }
    // Both pay for one argon2id verification: within a factor of 3.
    let (w, u) = (
        wrong.iter().min().unwrap().as_secs_f64(),
        unknown.iter().min().unwrap().as_secs_f64(),
    );
    assert!(
        w / u < 3.0 && u / w < 3.0,
        "wrong password {w:.4}s vs unknown email {u:.4}s"
    );
}

#[tokio::test]
async fn repeated_failures_are_slowed_down_then_rate_limited() {
    let app = apps(&[
        ("TICKETGW_AUTH_RATE_PER_ACCOUNT", "50"),
        ("TICKETGW_AUTH_RATE_PER_IP", "50"),
    ])
    .await
    .remove(0);
    register(&app, "b@example.test", "a long enough password").await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, "b@example.test", "nope nope nope")
                .await
                .status(),
            401
        );
    }
    // The fourth attempt comes too soon after three failures.
    let r = login(&app, "b@example.test", "a long enough password").await;
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(problem(r, 429).await["code"], "login_throttled");
    // Unknown emails are throttled the same way (no account enumeration).
    for _ in 0..3 {
        login(&app, "nobody@example.test", "nope nope nope").await;
    }
    assert_eq!(
        login(&app, "nobody@example.test", "nope nope nope")
            .await
            .status(),
        429
    );

    // Per-IP limit.
    let app = apps(&[("TICKETGW_AUTH_RATE_PER_IP", "5")]).await.remove(0);
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(
            login(&app, &format!("u{i}@example.test"), "x")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// A local server speaking reCAPTCHA's siteverify protocol.
async fn captcha_server() -> String {
    let app = Router::new().route(
        "/siteverify",
        post(|body: String| async move {
            let token = form_urlencoded::parse(body.as_bytes()).find(|(k, _)| k == "response").map(|(_, v)| v.into_owned()).unwrap_or_default();
            let secret_ok = body.contains("secret=test-secret");
            let (success, score, action) = match token.as_str() {
                "human-register" => (true, 0.9, "register"),
                "human-login" => (true, 0.9, "login"),
                "bot" => (true, 0.1, "register"),
                _ => (false, 0.0, ""),
            };
            axum::Json(json!({"success": success && secret_ok, "score": score, "action": action, "hostname": "tickets.example.test"}))
        }),
    ).route("/down", post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }))
     .route("/slow", get(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

#[tokio::test]
async fn captcha_is_verified_server_side_and_fails_closed() {
    let base = captcha_server().await;
    let verify = format!("{base}/siteverify");
    let app = apps(&[
        ("TICKETGW_RECAPTCHA_SECRET", "test-secret"),
        ("TICKETGW_RECAPTCHA_VERIFY_URL", verify.as_str()),
        ("TICKETGW_RECAPTCHA_HOSTNAMES", "tickets.example.test"),
    ])
    .await
    .remove(0);
    let body = |token: Option<&str>| json!({"email": "c@example.test", "password": "a long enough password", "name": "C", "captcha_token": token});
    for token in [None, Some("bot"), Some("forged"), Some("human-login")] {
        let p = problem(app.post_json("/v1/auth/register", &body(token)).await, 400).await;
        assert_eq!(p["code"], "captcha_failed", "{token:?}");
    }
    assert_eq!(
        app.post_json("/v1/auth/register", &body(Some("human-register")))
            .await
            .status(),
        201
    );
    let r = app.post_json("/v1/auth/login", &json!({"email": "c@example.test", "password": "a long enough password", "captcha_token": "human-login"})).await;
    assert_eq!(r.status(), 200);

    // Provider failing or unreachable: refuse (503), never let through.
    for url in [
        format!("{base}/down"),
        "http://127.0.0.1:9/siteverify".to_string(),
    ] {
        let app = apps(&[
            ("TICKETGW_RECAPTCHA_SECRET", "test-secret"),
            ("TICKETGW_RECAPTCHA_VERIFY_URL", url.as_str()),
        ])
        .await
        .remove(0);
        let p = problem(
            app.post_json("/v1/auth/register", &body(Some("human-register")))
                .await,
            503,
        )
        .await;
        assert_eq!(p["code"], "captcha_unavailable");
    }
    let _ = Duration::from_secs(0);
}

#[tokio::test]
async fn discovery_and_jwks() {
    let app = apps(&[]).await.remove(0);
    let d: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let issuer = d["issuer"].as_str().unwrap();
    assert_eq!(d["jwks_uri"], format!("{issuer}/v1/auth/jwks"));
    let jwks: Value = app.get("/v1/auth/jwks").await.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "never the private part");
}
