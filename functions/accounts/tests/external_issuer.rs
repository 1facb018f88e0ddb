//! A token from an external OpenID Connect issuer (Keycloak-shaped: claim
//! `typ: Bearer`, realm and client roles) is accepted by a function through
//! discovery, and the caller's profile row, keyed by (`iss`, `sub`), is
//! created on the first authenticated call.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tg_testkit::{TestDb, spawn_app_with};

#[tokio::test]
async fn external_tokens_create_the_profile_on_first_call() {
    // A minimal issuer: discovery + JWKS for a key this test holds.
    let key = tg_idp::generate_es256().unwrap();
    let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/ticketgw", listener.local_addr().unwrap());
    let doc =
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/protocol/openid-connect/certs")});
    let jwks = json!({"keys": [jwk]});
    let idp = Router::new()
        .route(
            "/realms/ticketgw/.well-known/openid-configuration",
            get(move || {
                let d = doc.clone();
                async move { axum::Json(d) }
            }),
        )
        .route(
            "/realms/ticketgw/protocol/openid-connect/certs",
            get(move || {
                let j = jwks.clone();
                async move { axum::Json(j) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, idp).await.ok() });

    for db in TestDb::all().await {
        let app = spawn_app_with(
            db,
            accounts::router,
            &[
                ("TICKETGW_OIDC_ISSUER", issuer.as_str()),
                ("TICKETGW_OIDC_CLIENT_ID", "ticketgw-services"),
                ("TICKETGW_BUILTIN_IDP", "false"),
            ],
        )
        .await;
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": issuer, "sub": "kc-user-42", "aud": ["ticketgw", "account"], "typ": "Bearer",
            "exp": now + 300, "iat": now, "email": "kc@example.test", "name": "Kay Cee",
            "realm_access": {"roles": ["organizer", "offline_access"]},
            "resource_access": {"ticketgw-services": {"roles": []}},
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&key.private_der),
        )
        .unwrap();

        assert!(
            app.state
                .store
                .find_user(&issuer, "kc-user-42")
                .await
                .unwrap()
                .is_none()
        );
        let r = app
            .request(reqwest::Method::GET, "/v1/me")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let me: Value = r.json().await.unwrap();
        assert_eq!(
            (me["issuer"].as_str(), me["email"].as_str()),
            (Some(issuer.as_str()), Some("kc@example.test"))
        );
        assert_eq!(
            me["roles"],
            json!(["user", "organizer"]),
            "realm roles mapped, unknown ones ignored"
        );
        let stored = app
            .state
            .store
            .find_user(&issuer, "kc-user-42")
            .await
            .unwrap()
            .expect("profile created");
        assert_eq!(stored.id.to_string(), me["id"].as_str().unwrap());
        let again: Value = app
            .request(reqwest::Method::GET, "/v1/me")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            again["id"], me["id"],
            "the same (iss, sub) is the same user"
        );

        // A built-in-provider token is refused here: that issuer is not trusted.
        let other = tg_idp::generate_es256().unwrap();
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(other.kid.clone());
        let forged =
            jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_der(&other.private_der))
                .unwrap();
        let r = app
            .request(reqwest::Method::GET, "/v1/me")
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "a key the issuer does not publish");
    }
}
