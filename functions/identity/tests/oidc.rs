//! The built-in OpenID Provider over HTTP on every backend: the
//! authorization code flow with PKCE as a BFF runs it (sign-in page,
//! wrong password, redirect with code, state and iss, token exchange,
//! tokens the platform accepts, the ID token's claims), refresh at the
//! token endpoint, and every way a code can be misused: wrong verifier,
//! wrong redirect URI, replay (which revokes what was issued), expiry,
//! concurrent redemption (exactly one wins; a naive read-then-write
//! redemption against the same database lets both win: the negative
//! control), and untrusted clients or redirect URIs (an error page, never
//! a redirect).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tg_testkit::{TestApp, TestDb, spawn_app_with};

const WEB: &str = "http://localhost:3000";
const REDIRECT: &str = "http://localhost:3000/auth/callback";
const PASSWORD: &str = "a long enough password";

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

/// A browser that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = tg_idp::oidc::s256(&verifier);
    (verifier, challenge)
}

fn authorize_query(challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", "ticketgw-web"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email offline_access"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        p.retain(|(x, _)| x != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    form(&p)
}

async fn get_authorize(app: &TestApp, query: &str) -> reqwest::Response {
    browser()
        .get(format!("{}/v1/auth/authorize?{query}", app.base))
        .send()
        .await
        .unwrap()
}

fn hidden_request(html: &str) -> String {
    let start = html.find("name=\"request\" value=\"").unwrap() + 22;
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

async fn submit(app: &TestApp, request: &str, email: &str, password: &str) -> reqwest::Response {
    browser()
        .post(format!("{}/v1/auth/authorize", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("request", request),
            ("email", email),
            ("password", password),
        ]))
        .send()
        .await
        .unwrap()
}

fn location_params(r: &reqwest::Response) -> (String, HashMap<String, String>) {
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let (base, query) = loc.split_once('?').unwrap();
    let params = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    (base.to_string(), params)
}

async fn token(app: &TestApp, pairs: &[(&str, &str)]) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = app
        .client
        .post(format!("{}/v1/auth/token", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
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

/// Signs in through the form; the code and the verifier.
async fn code_for(app: &TestApp, email: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let html = get_authorize(app, &authorize_query(&challenge, &[]))
        .await
        .text()
        .await
        .unwrap();
    let r = submit(app, &hidden_request(&html), email, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let (_, q) = location_params(&r);
    (q["code"].clone(), verifier)
}

async fn exchange(app: &TestApp, code: &str, verifier: &str) -> (u16, Value) {
    let (s, v, _) = token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", "ticketgw-web"),
            ("code_verifier", verifier),
        ],
    )
    .await;
    (s, v)
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.request(reqwest::Method::GET, "/v1/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn jwt_part(jwt: &str, i: usize) -> Value {
    let part = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn code_flow_with_pkce() {
    for app in apps(&[]).await {
        register(&app, "ann@example.test").await;
        let issuer = app.state.config.public_url.clone();
        let (verifier, challenge) = pkce();

        // The sign-in page, in German when asked for.
        let r = get_authorize(
            &app,
            &authorize_query(
                &challenge,
                &[("ui_locales", "de"), ("login_hint", "ann@example.test")],
            ),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let html = r.text().await.unwrap();
        assert!(html.contains("<html lang=\"de\">"), "{html}");
        assert!(html.contains("<label for=\"email\">E-Mail-Adresse</label>"));
        assert!(html.contains("<label for=\"password\">Passwort</label>"));
        assert!(html.contains(&format!("href=\"{WEB}/register\"")));
        assert!(html.contains(&format!("href=\"{WEB}/forgot-password\"")));
        assert!(html.contains("value=\"ann@example.test\""));
        // English from Accept-Language.
        let en = browser()
            .get(format!(
                "{}/v1/auth/authorize?{}",
                app.base,
                authorize_query(&challenge, &[])
            ))
            .header("accept-language", "en-GB,de;q=0.5")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(en.contains("<html lang=\"en\">") && en.contains("Sign in"));
        let request = hidden_request(&html);

        // Wrong password: the form again, the error tied to the fields, no redirect.
        let r = submit(&app, &request, "ann@example.test", "not the password").await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("location").is_none());
        let page = r.text().await.unwrap();
        assert!(page.contains("role=\"alert\" id=\"form-error\""));
        assert!(page.contains("aria-describedby=\"form-error\""));
        assert!(page.contains("Die E-Mail-Adresse oder das Passwort ist falsch."));
        // An unknown account gets exactly the same page.
        let other = submit(&app, &request, "ghost@example.test", "not the password").await;
        assert_eq!(other.status(), 401);
        assert_eq!(
            other.text().await.unwrap(),
            page.replace("value=\"ann@example.test\"", "value=\"ghost@example.test\"")
        );
        // Empty fields: field errors.
        let r = submit(&app, &request, "", "").await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("aria-describedby=\"email-error\""));
        assert!(page.contains("aria-describedby=\"password-error\""));

        // Success: 303 to the redirect URI with code, state and iss.
        let r = submit(&app, &request, "Ann@Example.test", PASSWORD).await;
        assert_eq!(r.status(), 303);
        let (base, q) = location_params(&r);
        assert_eq!(base, REDIRECT);
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], issuer);
        let code = q["code"].clone();
        assert!(code.len() >= 40);

        // Token exchange.
        let (status, t, headers) = token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", "ticketgw-web"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 900);
        assert_eq!(t["scope"], "openid profile email offline_access");
        let access = t["access_token"].as_str().unwrap();
        let refresh = t["refresh_token"].as_str().unwrap().to_string();
        let id_token = t["id_token"].as_str().unwrap();

        // The platform's verifier accepts the access token.
        let profile: Value = me(&app, access).await.json().await.unwrap();
        assert_eq!(profile["email"], "ann@example.test");
        assert_eq!(profile["email_verified"], false);
        // The ID token: signed by the provider, for the client, with the nonce.
        let header = jwt_part(id_token, 0);
        assert_eq!(
            (header["alg"].as_str(), header["typ"].as_str()),
            (Some("ES256"), Some("JWT"))
        );
        let hint = app
            .state
            .idp
            .as_ref()
            .unwrap()
            .read_id_token_hint(id_token)
            .await
            .expect("signed by the provider");
        assert_eq!(hint.aud, "ticketgw-web");
        let claims = jwt_part(id_token, 1);
        assert_eq!(claims["iss"], issuer);
        assert_eq!(claims["aud"], "ticketgw-web");
        assert_eq!(claims["nonce"], "n-456");
        assert_eq!(claims["email"], "ann@example.test");
        assert_eq!(claims["email_verified"], false);
        assert_eq!(claims["name"], "Ann");
        assert_eq!(claims["sub"], profile["id"]);
        assert!(claims["exp"].as_i64().unwrap() > Utc::now().timestamp());
        // An ID token is not an access token.
        assert_eq!(me(&app, id_token).await.status(), 401);
        // A tampered ID token is not the provider's.
        let mut forged = id_token.to_string();
        forged.pop();
        forged.push(if id_token.ends_with('A') { 'B' } else { 'A' });
        assert!(
            app.state
                .idp
                .as_ref()
                .unwrap()
                .read_id_token_hint(&forged)
                .await
                .is_none()
        );

        // Refresh at the token endpoint rotates.
        let (s, t2, _) = token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "ticketgw-web"),
            ],
        )
        .await;
        assert_eq!(s, 200, "{t2}");
        assert_ne!(t2["refresh_token"], refresh.as_str());
        assert_eq!(
            me(&app, t2["access_token"].as_str().unwrap())
                .await
                .status(),
            200
        );
        let (s, e, _) = token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "ticketgw-web"),
            ],
        )
        .await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));

        // End session: back to the web app with the state; unknown targets refused.
        let r = browser()
            .get(format!(
                "{}/v1/auth/end-session?{}",
                app.base,
                form(&[
                    ("id_token_hint", id_token),
                    ("post_logout_redirect_uri", &format!("{WEB}/")),
                    ("state", "bye")
                ])
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("{WEB}/?state=bye"));
        let r = browser()
            .get(format!(
                "{}/v1/auth/end-session?{}",
                app.base,
                form(&[
                    ("id_token_hint", id_token),
                    ("post_logout_redirect_uri", "https://evil.example/")
                ])
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn discovery_describes_the_code_flow() {
    let app = apps(&[]).await.remove(0);
    let d: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let issuer = d["issuer"].as_str().unwrap();
    assert_eq!(
        d["authorization_endpoint"],
        format!("{issuer}/v1/auth/authorize")
    );
    assert_eq!(d["token_endpoint"], format!("{issuer}/v1/auth/token"));
    assert_eq!(
        d["end_session_endpoint"],
        format!("{issuer}/v1/auth/end-session")
    );
    assert_eq!(d["userinfo_endpoint"], format!("{issuer}/v1/me"));
    assert_eq!(d["jwks_uri"], format!("{issuer}/v1/auth/jwks"));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(
        d["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["token_endpoint_auth_methods_supported"], json!(["none"]));
    assert_eq!(
        d["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["ES256"]));
}

#[tokio::test]
async fn untrusted_clients_and_redirects_get_a_page_never_a_redirect() {
    for app in apps(&[("TICKETGW_WEB_URL", "https://tickets.example.test")]).await {
        let (_, challenge) = pkce();
        let good = "https://tickets.example.test/auth/callback";
        for extra in [
            vec![("client_id", "someone-else"), ("redirect_uri", good)],
            vec![("client_id", ""), ("redirect_uri", good)],
            vec![("redirect_uri", REDIRECT)],
            vec![(
                "redirect_uri",
                "https://tickets.example.test/auth/callback/x",
            )],
            vec![(
                "redirect_uri",
                "https://tickets.example.test.evil.test/auth/callback",
            )],
            vec![("redirect_uri", "")],
        ] {
            let r = get_authorize(&app, &authorize_query(&challenge, &extra)).await;
            assert_eq!(r.status(), 400, "{extra:?}");
            assert!(r.headers().get("location").is_none(), "{extra:?}");
            assert!(r.text().await.unwrap().contains("<h1>"));
        }
        // A repeated redirect_uri is refused the same way.
        let q = format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.test%2F",
            authorize_query(&challenge, &[("redirect_uri", good)])
        );
        let r = get_authorize(&app, &q).await;
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());

        // With a trusted client and redirect, other errors go back to it.
        for (extra, error) in [
            (vec![("code_challenge", "")], "invalid_request"),
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("code_challenge_method", "")], "invalid_request"),
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (vec![("scope", "profile email")], "invalid_scope"),
            (vec![("prompt", "none")], "login_required"),
        ] {
            let mut all = vec![("redirect_uri", good)];
            all.extend(extra.iter().copied());
            let r = get_authorize(&app, &authorize_query(&challenge, &all)).await;
            assert_eq!(r.status(), 303, "{extra:?}");
            let (base, q) = location_params(&r);
            assert_eq!(base, good);
            assert_eq!(
                (q["error"].as_str(), q["state"].as_str()),
                (error, "st-123"),
                "{extra:?}"
            );
        }

        // A tampered form is refused without a redirect.
        let html = get_authorize(
            &app,
            &authorize_query(&challenge, &[("redirect_uri", good)]),
        )
        .await
        .text()
        .await
        .unwrap();
        let request = hidden_request(&html);
        let (payload, mac) = request.split_once('.').unwrap();
        let mut p: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        p["redirect_uri"] = json!("https://evil.test/cb");
        let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(p.to_string()));
        register(&app, "t@example.test").await;
        let r = submit(&app, &forged, "t@example.test", PASSWORD).await;
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn codes_are_bound_single_use_and_short_lived() {
    for app in apps(&[]).await {
        register(&app, "bo@example.test").await;

        // Wrong verifier: refused, and the code is spent.
        let (code, verifier) = code_for(&app, "bo@example.test").await;
        let (other_verifier, _) = pkce();
        let (s, e) = exchange(&app, &code, &other_verifier).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{e}"
        );
        assert_eq!(exchange(&app, &code, &verifier).await.0, 400);

        // Wrong redirect_uri or client.
        let (code, verifier) = code_for(&app, "bo@example.test").await;
        let (s, _, _) = token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:3000/other"),
                ("client_id", "ticketgw-web"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(s, 400);
        let (s, e, _) = token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", "nobody"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_client")));

        // Replay: the second redemption fails and revokes what the first got.
        let (code, verifier) = code_for(&app, "bo@example.test").await;
        let (s, t) = exchange(&app, &code, &verifier).await;
        assert_eq!(s, 200);
        let (s, e) = exchange(&app, &code, &verifier).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
        let (s, e, _) = token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
                ("client_id", "ticketgw-web"),
            ],
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "revoked by the replay"
        );

        // Expired (60 s lifetime): a code stored a minute ago.
        let user = app
            .state
            .store
            .local_credentials(tg_store::BUILTIN_ISSUER, "bo@example.test")
            .await
            .unwrap()
            .unwrap()
            .0;
        let (verifier, challenge) = pkce();
        let old = Utc::now() - Duration::seconds(61);
        app.state
            .store
            .insert_auth_code(&tg_store::NewAuthCode {
                code_hash: tg_idp::oidc::hash("tgc_expired-code"),
                client_id: "ticketgw-web".into(),
                redirect_uri: REDIRECT.into(),
                user_id: user.id,
                code_challenge: challenge,
                nonce: None,
                scope: "openid".into(),
                session_id: uuid::Uuid::now_v7(),
                auth_time: old,
                created_at: old,
                expires_at: old + Duration::seconds(tg_idp::oidc::CODE_SECONDS),
            })
            .await
            .unwrap();
        let (s, e) = exchange(&app, "tgc_expired-code", &verifier).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));

        // Malformed requests.
        let (s, e, _) = token(
            &app,
            &[("grant_type", "password"), ("client_id", "ticketgw-web")],
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("unsupported_grant_type"))
        );
        let (s, e, _) = token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "ticketgw-web"),
            ],
        )
        .await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
        let r = app
            .post_json(
                "/v1/auth/token",
                &json!({"grant_type": "authorization_code"}),
            )
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
}

/// Redeems `code_hash` the naive way: read whether it is unused, then mark
/// it used (two statements). Both racers read before either writes.
async fn naive_redeem(url: &str, code_hash: Vec<u8>, barrier: Arc<tokio::sync::Barrier>) -> bool {
    let now = tg_store::truncate_micros(Utc::now());
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let (unused,): (bool,) =
            sqlx::query_as("SELECT used_at IS NULL FROM oidc_codes WHERE code_hash = $1")
                .bind(&code_hash)
                .fetch_one(&pool)
                .await
                .unwrap();
        barrier.wait().await;
        if unused {
            sqlx::query("UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1")
                .bind(&code_hash)
                .bind(now)
                .execute(&pool)
                .await
                .unwrap();
        }
        unused
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let (unused,): (bool,) =
            sqlx::query_as("SELECT used_at IS NULL FROM oidc_codes WHERE code_hash = $1")
                .bind(&code_hash)
                .fetch_one(&pool)
                .await
                .unwrap();
        barrier.wait().await;
        if unused {
            sqlx::query("UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1")
                .bind(&code_hash)
                .bind(now)
                .execute(&pool)
                .await
                .unwrap();
        }
        unused
    }
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_exactly_one_wins() {
    for app in apps(&[]).await {
        register(&app, "race@example.test").await;
        for _ in 0..3 {
            let (code, verifier) = code_for(&app, "race@example.test").await;
            // All in flight at once.
            let results =
                futures_util::future::join_all((0..6).map(|_| exchange(&app, &code, &verifier)))
                    .await;
            let winners = results.iter().filter(|(s, _)| *s == 200).count();
            assert_eq!(winners, 1, "{results:?}");
            assert!(
                results
                    .iter()
                    .filter(|(s, _)| *s != 200)
                    .all(|(s, e)| *s == 400 && e["error"] == "invalid_grant")
            );
        }

        // Negative control: the same race with a read-then-write
        // redemption on the same database lets both racers win.
        let (code, _) = code_for(&app, "race@example.test").await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let hash = tg_idp::oidc::hash(&code);
        let (a, b) = tokio::join!(
            naive_redeem(&app.db.url, hash.clone(), barrier.clone()),
            naive_redeem(&app.db.url, hash, barrier)
        );
        let winners = usize::from(a) + usize::from(b);
        assert_eq!(
            winners, 2,
            "the naive redemption is caught letting both win"
        );
    }
}

#[tokio::test]
async fn the_sign_in_form_shares_the_login_limits() {
    let app = apps(&[
        ("TICKETGW_AUTH_RATE_PER_ACCOUNT", "50"),
        ("TICKETGW_AUTH_RATE_PER_IP", "50"),
    ])
    .await
    .remove(0);
    register(&app, "lock@example.test").await;
    let (_, challenge) = pkce();
    let html = get_authorize(&app, &authorize_query(&challenge, &[]))
        .await
        .text()
        .await
        .unwrap();
    let request = hidden_request(&html);
    for _ in 0..3 {
        let r = submit(&app, &request, "lock@example.test", "wrong password!").await;
        assert_eq!(r.status(), 401);
    }
    // The backoff the form's failures started applies to /v1/auth/login ...
    let r = app
        .post_json(
            "/v1/auth/login",
            &json!({"email": "lock@example.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(tg_testkit::problem(r, 429).await["code"], "login_throttled");
    // ... and to the form, even with the right password.
    let r = submit(&app, &request, "lock@example.test", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("Too many attempts"));
}

#[tokio::test]
async fn the_sign_in_form_checks_captcha_when_configured() {
    // A local server speaking reCAPTCHA's siteverify protocol.
    let verify = Router::new().route(
        "/siteverify",
        axum::routing::post(|body: String| async move {
            let ok = body.contains("response=human-login") && body.contains("secret=test-secret");
            axum::Json(json!({"success": ok, "score": 0.9, "action": "login"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, verify).await.ok() });
    let app = apps(&[
        ("TICKETGW_RECAPTCHA_SECRET", "test-secret"),
        ("TICKETGW_RECAPTCHA_VERIFY_URL", url.as_str()),
    ])
    .await
    .remove(0);
    app.state
        .store
        .create_local_user(&tg_store::NewLocalUser {
            iss: tg_store::BUILTIN_ISSUER.into(),
            email: "cap2@example.test".into(),
            name: "C".into(),
            password_hash: tg_platform::hash_password(PASSWORD).await.unwrap(),
            roles: vec![tg_store::Role::User],
        })
        .await
        .unwrap();
    let (_, challenge) = pkce();
    let html = get_authorize(&app, &authorize_query(&challenge, &[]))
        .await
        .text()
        .await
        .unwrap();
    let request = hidden_request(&html);
    // Without a token (or with a bad one): refused, no redirect.
    let r = submit(&app, &request, "cap2@example.test", PASSWORD).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let post = |token: &'static str| {
        browser()
            .post(format!("{}/v1/auth/authorize", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("request", &request),
                ("email", "cap2@example.test"),
                ("password", PASSWORD),
                ("captcha_token", token),
            ]))
            .send()
    };
    assert_eq!(post("forged").await.unwrap().status(), 400);
    let r = post("human-login").await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location_params(&r).1.contains_key("code"));
}
