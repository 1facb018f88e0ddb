//! Verifier tests: a local OIDC-ish server (discovery + JWKS whose key set
//! can change at runtime, counting fetches), keys generated per run, a JWT
//! attack matrix, negative controls, rotation and flood behaviour.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair,
};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::request::Parts;
use http::{Request, StatusCode, header};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tg_http::ApiError;
use tg_store::Role;
use tower::ServiceExt;

use super::*;

const AUD: &str = "ticketgw";
const KC_AUD: &str = "ticketgw-api";
const LOCAL_ISS: &str = "http://localhost:7070/idp";

// ---------------------------------------------------------------- keys

#[derive(Clone)]
struct TestKey {
    alg: Algorithm,
    kid: String,
    enc: EncodingKey,
    /// The public JWK as the IdP publishes it.
    jwk: Value,
    /// Public key bytes an attacker could use as an HMAC secret.
    public: Vec<u8>,
}

impl TestKey {
    fn with_kid(&self, kid: &str) -> TestKey {
        let mut k = self.clone();
        k.kid = kid.into();
        k.jwk["kid"] = json!(kid);
        k
    }

    fn with_jwk(&self, field: &str, value: Value) -> TestKey {
        let mut k = self.clone();
        if value.is_null() {
            if let Some(obj) = k.jwk.as_object_mut() {
                obj.remove(field);
            }
        } else {
            k.jwk[field] = value;
        }
        k
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(v: &Value) -> String {
    b64(serde_json::to_vec(v).expect("json"))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn ec_key(kid: &str, signing: &'static EcdsaSigningAlgorithm) -> TestKey {
    let (alg, crv, len) = if std::ptr::eq(signing, &ECDSA_P256_SHA256_FIXED_SIGNING) {
        (Algorithm::ES256, "P-256", 32)
    } else {
        (Algorithm::ES384, "P-384", 48)
    };
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &SystemRandom::new()).expect("ec keygen");
    let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).expect("ec pkcs8");
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 1 + 2 * len);
    assert_eq!(point[0], 4, "uncompressed point");
    let (x, y) = point[1..].split_at(len);
    TestKey {
        alg,
        kid: kid.into(),
        enc: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": crv, "x": b64(x), "y": b64(y),
            "kid": kid, "alg": format!("{alg:?}"), "use": "sig",
        }),
        public: point,
    }
}

fn es256(kid: &str) -> TestKey {
    ec_key(kid, &ECDSA_P256_SHA256_FIXED_SIGNING)
}

fn es384(kid: &str) -> TestKey {
    ec_key(kid, &ECDSA_P384_SHA384_FIXED_SIGNING)
}

fn ed25519(kid: &str) -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("ed keygen");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ed pkcs8");
    let public = pair.public_key().as_ref().to_vec();
    TestKey {
        alg: Algorithm::EdDSA,
        kid: kid.into(),
        enc: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(&public),
            "kid": kid, "alg": "EdDSA", "use": "sig",
        }),
        public,
    }
}

/// RSA-2048 keys are slow to generate in debug builds: three per process.
static RSA: LazyLock<Vec<TestKey>> = LazyLock::new(|| (0..3).map(rsa_key).collect());

fn rsa_key(i: usize) -> TestKey {
    let pair =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa keygen");
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("rsa pkcs8");
    let enc =
        EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).expect("rsa pem");
    let public = pair.public_key();
    let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(public).expect("rsa spki");
    let parts = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(public);
    let kid = format!("rsa-{i}");
    TestKey {
        alg: Algorithm::RS256,
        kid: kid.clone(),
        enc,
        // No `alg`: the key may be used for RS* and PS*.
        jwk: json!({ "kty": "RSA", "n": b64(&parts.n), "e": b64(&parts.e), "kid": kid, "use": "sig" }),
        public: pem("PUBLIC KEY", spki.as_ref()).into_bytes(),
    }
}

fn rsa_k(i: usize, kid: &str) -> TestKey {
    RSA[i].with_kid(kid)
}

// ---------------------------------------------------------------- tokens

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("time")
}

fn alg_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

fn hdr(alg: &str, kid: Option<&str>, typ: Option<&str>) -> Value {
    let mut h = json!({ "alg": alg });
    if let Some(kid) = kid {
        h["kid"] = json!(kid);
    }
    if let Some(typ) = typ {
        h["typ"] = json!(typ);
    }
    h
}

/// RFC 9068 header for `key`.
fn at(key: &TestKey) -> Value {
    hdr(&alg_name(key.alg), Some(&key.kid), Some("at+jwt"))
}

/// Signs `header`.`claims` with `key` using `alg` (which may not be the
/// key's own algorithm, e.g. HS256 with a public key as the secret).
fn sign_with(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let msg = format!("{}.{}", b64_json(header), b64_json(claims));
    let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), key, alg).expect("sign");
    format!("{msg}.{sig}")
}

fn signed(header: &Value, claims: &Value, key: &TestKey) -> String {
    sign_with(header, claims, &key.enc, key.alg)
}

/// Standard access-token claims for `iss`.
fn claims(iss: &str) -> Value {
    json!({
        "iss": iss, "sub": "user-123", "aud": AUD,
        "exp": now() + 300, "iat": now(),
        "jti": "jti-1", "sid": "sid-1", "email": "u@example.com", "name": "Una",
        "roles": ["organizer"],
    })
}

fn patch(base: &Value, set: &[(&str, Value)], remove: &[&str]) -> Value {
    let mut v = base.clone();
    let obj = v.as_object_mut().expect("object");
    for (k, val) in set {
        obj.insert((*k).to_string(), val.clone());
    }
    for k in remove {
        obj.remove(*k);
    }
    v
}

fn flip_last_sig_bit(token: &str) -> String {
    let (msg, sig) = token.rsplit_once('.').expect("jws");
    let mut raw = URL_SAFE_NO_PAD.decode(sig).expect("sig");
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    format!("{msg}.{}", b64(raw))
}

// ---------------------------------------------------------------- test IdP

struct IdpState {
    issuer: String,
    keys: RwLock<Vec<Value>>,
    jwks_hits: AtomicU64,
    discovery_hits: AtomicU64,
    fail: AtomicBool,
    /// `issuer` value the discovery document claims (to test the check).
    claimed_issuer: RwLock<Option<String>>,
}

#[derive(Clone)]
struct Idp {
    issuer: String,
    state: Arc<IdpState>,
}

impl Idp {
    async fn start(realm: &str, keys: &[&TestKey]) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let issuer = format!("http://127.0.0.1:{port}/realms/{realm}");
        let state = Arc::new(IdpState {
            issuer: issuer.clone(),
            keys: RwLock::new(keys.iter().map(|k| k.jwk.clone()).collect()),
            jwks_hits: AtomicU64::new(0),
            discovery_hits: AtomicU64::new(0),
            fail: AtomicBool::new(false),
            claimed_issuer: RwLock::new(None),
        });
        let app = Router::new()
            .route(
                &format!("/realms/{realm}/.well-known/openid-configuration"),
                get(discovery),
            )
            .route(&format!("/realms/{realm}/certs"), get(certs))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Idp { issuer, state }
    }

    fn jwks_uri(&self) -> String {
        format!("{}/certs", self.issuer)
    }

    fn set_keys(&self, keys: &[&TestKey]) {
        *self.state.keys.write().expect("lock") = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn push_raw_key(&self, jwk: Value) {
        self.state.keys.write().expect("lock").push(jwk);
    }

    fn jwks_hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    fn discovery_hits(&self) -> u64 {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    fn set_failing(&self, fail: bool) {
        self.state.fail.store(fail, Ordering::SeqCst);
    }
}

async fn discovery(State(s): State<Arc<IdpState>>) -> Result<axum::Json<Value>, StatusCode> {
    s.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if s.fail.load(Ordering::SeqCst) {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let issuer = s
        .claimed_issuer
        .read()
        .expect("lock")
        .clone()
        .unwrap_or_else(|| s.issuer.clone());
    Ok(axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/certs", s.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    })))
}

async fn certs(State(s): State<Arc<IdpState>>) -> Result<axum::Json<Value>, StatusCode> {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if s.fail.load(Ordering::SeqCst) {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let keys = s.keys.read().expect("lock").clone();
    Ok(axum::Json(json!({ "keys": keys })))
}

/// The built-in provider's keys, read in process.
struct LocalKeys {
    set: RwLock<Value>,
    calls: AtomicU64,
    delay: Duration,
}

impl LocalKeys {
    fn new(keys: &[&TestKey], delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            set: RwLock::new(
                json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
            ),
            calls: AtomicU64::new(0),
            delay,
        })
    }
}

#[async_trait]
impl JwksProvider for LocalKeys {
    async fn jwks(&self) -> anyhow::Result<JwkSet> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let set = self
            .set
            .read()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        Ok(serde_json::from_value(set)?)
    }
}

// ---------------------------------------------------------------- world

/// Four issuers:
/// * `a` (discovery): ES256, ES384, RSA (no JWK alg, plus the same key
///   published with alg RS256), Ed25519; allows ES256/ES384/RS256/RS384/EdDSA.
/// * `b` (fixed JWKS URI): one ES256 key; same audience as `a`.
/// * `kc` (discovery, Keycloak-like): RS256 signing key, an RSA-OAEP
///   encryption key, an `oct` key and an unknown key type; client roles of
///   `ticketgw-api` with custom role names.
/// * local (in-process provider): one ES256 key.
struct World {
    a: Idp,
    b: Idp,
    kc: Idp,
    local: Arc<LocalKeys>,
    es: TestKey,
    es384: TestKey,
    rsa: TestKey,
    rsa_rs256: TestKey,
    ed: TestKey,
    b_es: TestKey,
    kc_rsa: TestKey,
    local_es: TestKey,
    evil_es: TestKey,
    evil_rsa: TestKey,
}

impl World {
    async fn new() -> World {
        let es = es256("es-1");
        let es384 = es384("es384-1");
        let rsa = rsa_k(0, "rsa-1").with_jwk("alg", Value::Null);
        let rsa_rs256 = rsa.with_kid("rsa-rs256").with_jwk("alg", json!("RS256"));
        let ed = ed25519("ed-1");
        let b_es = es256("b-es-1");
        let kc_rsa = rsa_k(1, "kc-rsa").with_jwk("alg", json!("RS256"));
        let local_es = es256("local-1");
        let evil_es = es256("evil-es");
        let evil_rsa = rsa_k(2, "evil-rsa");

        let a = Idp::start("a", &[&es, &es384, &rsa, &rsa_rs256, &ed]).await;
        let b = Idp::start("b", &[&b_es]).await;
        let kc = Idp::start("kc", &[&kc_rsa]).await;
        let mut enc_key = kc_rsa.jwk.clone();
        enc_key["kid"] = json!("kc-enc");
        enc_key["alg"] = json!("RSA-OAEP");
        enc_key["use"] = json!("enc");
        kc.push_raw_key(enc_key);
        kc.push_raw_key(
            json!({ "kid": "kc-hs", "kty": "oct", "k": b64("secret"), "alg": "HS256" }),
        );
        kc.push_raw_key(json!({ "kid": "kc-weird", "kty": "XYZ", "crv": "none" }));
        let local = LocalKeys::new(&[&local_es], Duration::ZERO);
        World {
            a,
            b,
            kc,
            local,
            es,
            es384,
            rsa,
            rsa_rs256,
            ed,
            b_es,
            kc_rsa,
            local_es,
            evil_es,
            evil_rsa,
        }
    }

    fn configs(&self) -> Vec<IssuerConfig> {
        let mut kc = IssuerConfig::new(
            self.kc.issuer.clone(),
            vec![KC_AUD.into()],
            vec![Algorithm::RS256],
            KeySource::Discovery,
        );
        kc.roles = RoleMapping {
            client_id: Some(KC_AUD.into()),
            user: "tg-user".into(),
            organizer: "tg-organizer".into(),
            admin: "tg-admin".into(),
        };
        vec![
            IssuerConfig::new(
                self.a.issuer.clone(),
                vec![AUD.into(), "other-api".into()],
                vec![
                    Algorithm::ES256,
                    Algorithm::ES384,
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::EdDSA,
                ],
                KeySource::Discovery,
            ),
            IssuerConfig::new(
                self.b.issuer.clone(),
                vec![AUD.into()],
                vec![Algorithm::ES256],
                KeySource::JwksUri(self.b.jwks_uri()),
            ),
            kc,
            IssuerConfig::new(
                LOCAL_ISS,
                vec![AUD.into()],
                vec![Algorithm::ES256],
                KeySource::Local(self.local.clone()),
            ),
        ]
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(self.configs(), reqwest::Client::new()).expect("config")
    }

    fn relaxed(&self, relax: Relax) -> Verifier {
        Verifier::relaxed(self.configs(), reqwest::Client::new(), relax).expect("config")
    }

    fn good_a(&self) -> String {
        signed(&at(&self.es), &claims(&self.a.issuer), &self.es)
    }

    /// A Keycloak access token (header typ JWT, claim typ Bearer).
    fn kc_claims(&self) -> Value {
        json!({
            "iss": self.kc.issuer, "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "aud": [KC_AUD, "account"], "azp": "ticketgw-web", "typ": "Bearer",
            "exp": now() + 300, "iat": now(), "jti": "kc-jti", "sid": "kc-sid",
            "email": "kc@example.com", "preferred_username": "kcuser",
            "realm_access": { "roles": ["tg-organizer", "offline_access", "uma_authorization"] },
            "resource_access": {
                "account": { "roles": ["manage-account", "tg-admin"] },
                KC_AUD: { "roles": ["view"] },
            },
        })
    }

    fn kc_header(&self) -> Value {
        hdr("RS256", Some(&self.kc_rsa.kid), Some("JWT"))
    }
}

// ---------------------------------------------------------------- HTTP

async fn me(State(v): State<Verifier>, parts: Parts) -> Result<String, ApiError> {
    let token = crate::bearer(&parts)?
        .ok_or_else(|| ApiError::unauthorized("this route needs an access token"))?;
    let claims = v.verify(token).await?;
    Ok(claims.sub)
}

fn app(v: Verifier) -> Router {
    Router::new().route("/me", get(me)).with_state(v)
}

/// Status and body of `GET /me` with `Authorization: <auth>`; `None` when
/// `auth` cannot be a header value.
async fn call(app: &Router, auth: &str) -> Option<(StatusCode, Option<String>, Vec<u8>)> {
    let value = http::HeaderValue::from_str(auth).ok()?;
    let req = Request::builder()
        .uri("/me")
        .header(header::AUTHORIZATION, value)
        .body(axum::body::Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let www = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body")
        .to_vec();
    Some((status, www, body))
}

// ---------------------------------------------------------------- accepted

#[tokio::test]
async fn valid_tokens_from_every_kind_of_issuer_are_accepted() {
    let w = World::new().await;
    let v = w.verifier();

    // ES256, RFC 9068 header, built-in-IdP `roles` claim.
    let t = signed(
        &at(&w.es),
        &patch(
            &claims(&w.a.issuer),
            &[("roles", json!(["organizer", "admin", "no-such-role", 7]))],
            &[],
        ),
        &w.es,
    );
    let c = v.verify(&t).await.expect("ES256 at+jwt");
    assert_eq!(
        c,
        Claims {
            iss: w.a.issuer.clone(),
            sub: "user-123".into(),
            roles: vec![Role::User, Role::Organizer, Role::Admin],
            email: Some("u@example.com".into()),
            name: Some("Una".into()),
            sid: Some("sid-1".into()),
            jti: Some("jti-1".into()),
            exp: c.exp,
        }
    );
    assert!(c.exp > now());

    // No roles at all: still a user.
    let t = signed(
        &hdr("ES256", Some("es-1"), Some("application/at+jwt")),
        &patch(&claims(&w.a.issuer), &[], &["roles", "name", "email"]),
        &w.es,
    );
    let c = v.verify(&t).await.expect("application/at+jwt");
    assert_eq!(c.roles, vec![Role::User]);
    assert_eq!((c.name, c.email), (None, None));

    // typ in another letter case; aud as an array that intersects.
    let t = signed(
        &hdr("ES256", Some("es-1"), Some("AT+JWT")),
        &patch(
            &claims(&w.a.issuer),
            &[("aud", json!(["someone-else", "other-api"]))],
            &[],
        ),
        &w.es,
    );
    v.verify(&t).await.expect("AT+JWT, aud array");

    // ES384, EdDSA, RS256 on the RSA key without JWK alg.
    for key in [&w.es384, &w.ed, &w.rsa, &w.rsa_rs256] {
        let t = signed(&at(key), &claims(&w.a.issuer), key);
        v.verify(&t)
            .await
            .unwrap_or_else(|e| panic!("{} rejected: {e}", key.kid));
    }
    // Signed with jsonwebtoken::encode, as an IdP library would.
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some("at+jwt".into());
    h.kid = Some("ed-1".into());
    let t = jsonwebtoken::encode(&h, &claims(&w.a.issuer), &w.ed.enc).expect("encode");
    v.verify(&t).await.expect("EdDSA via encode");

    // No kid, and exactly one ES256 key in a's set.
    let t = signed(
        &hdr("ES256", None, Some("at+jwt")),
        &claims(&w.a.issuer),
        &w.es,
    );
    v.verify(&t).await.expect("kid-less, one fitting key");

    // Keycloak: RS256, header typ JWT, claim typ Bearer, realm + client
    // roles with custom names; roles of other clients are not ours.
    let t = signed(&w.kc_header(), &w.kc_claims(), &w.kc_rsa);
    let c = v.verify(&t).await.expect("keycloak access token");
    assert_eq!(c.roles, vec![Role::User, Role::Organizer]);
    assert_eq!(c.name.as_deref(), Some("kcuser"));
    assert_eq!(c.email.as_deref(), Some("kc@example.com"));
    assert_eq!(c.sid.as_deref(), Some("kc-sid"));
    let t = signed(
        &w.kc_header(),
        &patch(
            &w.kc_claims(),
            &[
                ("realm_access", json!({ "roles": [] })),
                (
                    "resource_access",
                    json!({ KC_AUD: { "roles": ["tg-admin", "tg-user"] } }),
                ),
            ],
            &[],
        ),
        &w.kc_rsa,
    );
    assert_eq!(
        v.verify(&t).await.expect("client roles").roles,
        vec![Role::User, Role::Admin]
    );
    // The default names mean nothing to an issuer with custom names.
    let t = signed(
        &w.kc_header(),
        &patch(
            &w.kc_claims(),
            &[("realm_access", json!({ "roles": ["admin", "organizer"] }))],
            &[],
        ),
        &w.kc_rsa,
    );
    assert_eq!(v.verify(&t).await.expect("kc").roles, vec![Role::User]);

    // The built-in provider (keys in process).
    let t = signed(
        &at(&w.local_es),
        &patch(&claims(LOCAL_ISS), &[("roles", json!(["admin"]))], &[]),
        &w.local_es,
    );
    let c = v.verify(&t).await.expect("local issuer");
    assert_eq!(c.roles, vec![Role::User, Role::Admin]);
    assert_eq!(c.iss, LOCAL_ISS);

    // b through its fixed JWKS URI.
    let t = signed(&at(&w.b_es), &claims(&w.b.issuer), &w.b_es);
    v.verify(&t).await.expect("issuer b");

    // One load per issuer so far.
    for iss in [&w.a.issuer, &w.b.issuer, &w.kc.issuer] {
        assert_eq!(v.jwks_fetches(iss), 1, "{iss}");
    }
    assert_eq!(v.jwks_fetches(LOCAL_ISS), 1);
    assert_eq!(w.local.calls.load(Ordering::SeqCst), 1);
    assert_eq!((w.a.jwks_hits(), w.a.discovery_hits()), (1, 1));
    assert_eq!((w.b.jwks_hits(), w.b.discovery_hits()), (1, 0));
    assert_eq!(v.jwks_fetches("https://nobody.example"), 0);
}

#[tokio::test]
async fn leeway_is_honoured_and_clamped_to_60_seconds() {
    let w = World::new().await;
    let mut cfgs = w.configs();
    cfgs[0].leeway_secs = 3600; // clamped to 60
    let v = Verifier::new(cfgs, reqwest::Client::new()).expect("config");
    let sign = |exp: i64| {
        signed(
            &at(&w.es),
            &patch(
                &claims(&w.a.issuer),
                &[("exp", json!(exp)), ("iat", json!(exp - 300))],
                &[],
            ),
            &w.es,
        )
    };
    v.verify(&sign(now() - 59))
        .await
        .expect("expired 59 s ago, leeway 60");
    assert_eq!(
        v.verify(&sign(now() - 61)).await,
        Err(VerifyError::Expired),
        "a configured 3600 s leeway must be clamped to 60 s"
    );
    // nbf just inside the leeway is accepted too.
    let t = signed(
        &at(&w.es),
        &patch(&claims(&w.a.issuer), &[("nbf", json!(now() + 55))], &[]),
        &w.es,
    );
    v.verify(&t).await.expect("nbf inside leeway");
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let w = World::new().await;
    let app = app(w.verifier());
    let token = w.good_a();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, _, body) = call(&app, &format!("{scheme} {token}"))
            .await
            .expect("header");
        assert_eq!(status, StatusCode::OK, "{scheme}");
        assert_eq!(body, b"user-123");
    }
    for bad in ["Basic abc", "Bearer", "Bearer ", "Token abc", "Bearer\tabc"] {
        let (status, _, _) = call(&app, bad).await.expect("header");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
}

// ---------------------------------------------------------------- attack matrix

struct Case {
    name: &'static str,
    token: String,
    expect: VerifyError,
}

fn case(name: &'static str, token: String, expect: VerifyError) -> Case {
    Case {
        name,
        token,
        expect,
    }
}

fn attack_matrix(w: &World) -> Vec<Case> {
    use VerifyError as E;
    let a = w.a.issuer.as_str();
    let good = claims(a);
    let es_at = at(&w.es);
    let good_token = signed(&es_at, &good, &w.es);
    let (good_msg, good_sig) = good_token.rsplit_once('.').expect("jws");
    let good_msg = good_msg.to_owned();
    let good_sig = good_sig.to_owned();
    let good_payload = b64_json(&good);

    let mut m = Vec::new();

    // alg: none, in several letter cases, unsigned and signed.
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = b64_json(&hdr(none, Some("es-1"), Some("at+jwt")));
        m.push(case(
            "alg none, no signature",
            format!("{h}.{good_payload}."),
            E::Algorithm,
        ));
        m.push(case(
            "alg none, with a signature",
            format!("{h}.{good_payload}.{good_sig}"),
            E::Algorithm,
        ));
    }
    // The classic RS/ES -> HS confusion: public key as the HMAC secret.
    m.push(case(
        "HS256 signed with the RSA public key PEM",
        sign_with(
            &hdr("HS256", Some("rsa-1"), Some("at+jwt")),
            &good,
            &EncodingKey::from_secret(&w.rsa.public),
            Algorithm::HS256,
        ),
        E::Algorithm,
    ));
    m.push(case(
        "HS256 signed with the RSA public key PEM, no kid",
        sign_with(
            &hdr("HS256", None, Some("at+jwt")),
            &good,
            &EncodingKey::from_secret(&w.rsa.public),
            Algorithm::HS256,
        ),
        E::Algorithm,
    ));
    m.push(case(
        "HS256 signed with the EC public key bytes",
        sign_with(
            &hdr("HS256", Some("es-1"), Some("at+jwt")),
            &good,
            &EncodingKey::from_secret(&w.es.public),
            Algorithm::HS256,
        ),
        E::Algorithm,
    ));
    m.push(case(
        "HS256 with the issuer's published oct key",
        sign_with(
            &hdr("HS256", Some("kc-hs"), Some("JWT")),
            &w.kc_claims(),
            &EncodingKey::from_secret(b"secret"),
            Algorithm::HS256,
        ),
        E::Algorithm,
    ));
    m.push(case(
        "HS512 signed with the RSA public key",
        sign_with(
            &hdr("HS512", Some("rsa-1"), Some("at+jwt")),
            &good,
            &EncodingKey::from_secret(&w.rsa.public),
            Algorithm::HS512,
        ),
        E::Algorithm,
    ));
    m.push(case(
        "alg in lower case (es256)",
        format!(
            "{}.{good_payload}.{good_sig}",
            b64_json(&hdr("es256", Some("es-1"), Some("at+jwt")))
        ),
        E::Algorithm,
    ));
    m.push(case(
        "unknown alg ES512",
        format!(
            "{}.{good_payload}.{good_sig}",
            b64_json(&hdr("ES512", Some("es-1"), Some("at+jwt")))
        ),
        E::Algorithm,
    ));
    m.push(case(
        "alg missing",
        format!(
            "{}.{good_payload}.{good_sig}",
            b64_json(&json!({ "kid": "es-1", "typ": "at+jwt" }))
        ),
        E::Algorithm,
    ));
    m.push(case(
        "alg not a string",
        format!(
            "{}.{good_payload}.{good_sig}",
            b64_json(&json!({ "alg": ["ES256"], "kid": "es-1", "typ": "at+jwt" }))
        ),
        E::Algorithm,
    ));
    m.push(case(
        "PS256 not in the issuer's allow-list",
        sign_with(
            &hdr("PS256", Some("rsa-1"), Some("at+jwt")),
            &good,
            &w.rsa.enc,
            Algorithm::PS256,
        ),
        E::Algorithm,
    ));
    m.push(case(
        "ES384 not allowed for issuer b",
        signed(&at(&w.es384), &claims(&w.b.issuer), &w.es384),
        E::Algorithm,
    ));

    // alg vs key type.
    m.push(case(
        "ES256 header on an RSA kid",
        signed(&hdr("ES256", Some("rsa-1"), Some("at+jwt")), &good, &w.es),
        E::KeyMismatch,
    ));
    m.push(case(
        "RS256 header on an EC kid",
        signed(&hdr("RS256", Some("es-1"), Some("at+jwt")), &good, &w.rsa),
        E::KeyMismatch,
    ));
    m.push(case(
        "ES384 header on a P-256 kid",
        signed(&hdr("ES384", Some("es-1"), Some("at+jwt")), &good, &w.es384),
        E::KeyMismatch,
    ));
    m.push(case(
        "EdDSA header on an EC kid",
        signed(&hdr("EdDSA", Some("es-1"), Some("at+jwt")), &good, &w.ed),
        E::KeyMismatch,
    ));
    m.push(case(
        "RS384 header on a JWK whose alg is RS256",
        sign_with(
            &hdr("RS384", Some("rsa-rs256"), Some("at+jwt")),
            &good,
            &w.rsa.enc,
            Algorithm::RS384,
        ),
        E::KeyMismatch,
    ));
    m.push(case(
        "no kid and two RSA keys fit",
        signed(&hdr("RS256", None, Some("at+jwt")), &good, &w.rsa),
        E::AmbiguousKey,
    ));

    // kid.
    m.push(case(
        "unknown kid",
        signed(&hdr("ES256", Some("es-404"), Some("at+jwt")), &good, &w.es),
        E::UnknownKey,
    ));
    m.push(case(
        "kid with path traversal",
        signed(
            &hdr("ES256", Some("../../../../etc/passwd"), Some("at+jwt")),
            &good,
            &w.es,
        ),
        E::UnknownKey,
    ));
    m.push(case(
        "kid with SQL injection",
        signed(
            &hdr("ES256", Some("' OR 1=1 --"), Some("at+jwt")),
            &good,
            &w.es,
        ),
        E::UnknownKey,
    ));
    m.push(case(
        "kid of the issuer's encryption key",
        signed(
            &hdr("RS256", Some("kc-enc"), Some("JWT")),
            &w.kc_claims(),
            &w.kc_rsa,
        ),
        E::UnknownKey,
    ));
    m.push(case(
        "huge kid",
        signed(
            &hdr("ES256", Some(&"k".repeat(4000)), Some("at+jwt")),
            &good,
            &w.es,
        ),
        E::Header("kid is not a short string"),
    ));
    m.push(case(
        "kid one byte over the limit",
        signed(
            &hdr(
                "ES256",
                Some(&"k".repeat(MAX_KID_BYTES + 1)),
                Some("at+jwt"),
            ),
            &good,
            &w.es,
        ),
        E::Header("kid is not a short string"),
    ));
    m.push(case(
        "kid not a string",
        signed(
            &json!({ "alg": "ES256", "kid": 1, "typ": "at+jwt" }),
            &good,
            &w.es,
        ),
        E::Header("kid is not a short string"),
    ));
    m.push(case(
        "empty kid",
        signed(&hdr("ES256", Some(""), Some("at+jwt")), &good, &w.es),
        E::Header("kid is not a short string"),
    ));

    // Key-locating headers: never followed.
    let mut h = at(&w.evil_es);
    h["jku"] = json!("https://attacker.example/jwks.json");
    m.push(case(
        "jku header",
        signed(&h, &good, &w.evil_es),
        E::Header("jku is not accepted"),
    ));
    let mut h = at(&w.es);
    h["jku"] = json!(w.a.jwks_uri());
    m.push(case(
        "jku header naming the real JWKS, real key",
        signed(&h, &good, &w.es),
        E::Header("jku is not accepted"),
    ));
    let mut h = at(&w.evil_rsa);
    h["x5u"] = json!("https://attacker.example/cert.pem");
    m.push(case(
        "x5u header",
        signed(&h, &good, &w.evil_rsa),
        E::Header("x5u is not accepted"),
    ));
    let mut h = at(&w.evil_es);
    h["jwk"] = w.evil_es.jwk.clone();
    m.push(case(
        "jwk header embedding the attacker's key, signed by it",
        signed(&h, &good, &w.evil_es),
        E::Header("jwk is not accepted"),
    ));
    let mut h = hdr("ES256", None, Some("at+jwt"));
    h["jwk"] = w.evil_es.jwk.clone();
    m.push(case(
        "jwk header without kid",
        signed(&h, &good, &w.evil_es),
        E::Header("jwk is not accepted"),
    ));
    let mut h = at(&w.es);
    h["x5c"] = json!([STANDARD.encode(b"attacker certificate")]);
    m.push(case(
        "x5c header with the attacker's certificate, signed by the attacker",
        signed(&h, &good, &w.evil_es.with_kid("es-1")),
        E::Signature,
    ));
    let mut h = at(&w.es);
    h["crit"] = json!(["exp"]);
    m.push(case(
        "crit header",
        signed(&h, &good, &w.es),
        E::Header("crit is not supported"),
    ));

    // Signatures.
    m.push(case(
        "signature from another key with the same kid (EC)",
        signed(&es_at, &good, &w.evil_es.with_kid("es-1")),
        E::Signature,
    ));
    m.push(case(
        "signature from another key with the same kid (RSA)",
        signed(&at(&w.rsa), &good, &w.evil_rsa.with_kid("rsa-1")),
        E::Signature,
    ));
    m.push(case(
        "signature bit-flipped",
        flip_last_sig_bit(&good_token),
        E::Signature,
    ));
    m.push(case(
        "signature truncated",
        format!("{good_msg}.{}", &good_sig[..good_sig.len() - 10]),
        E::Signature,
    ));
    m.push(case(
        "signature of another token",
        format!(
            "{}.{}",
            good_msg,
            signed(
                &es_at,
                &patch(&good, &[("sub", json!("other"))], &[]),
                &w.es
            )
            .rsplit_once('.')
            .expect("jws")
            .1
        ),
        E::Signature,
    ));
    m.push(case(
        "payload altered after signing (admin role added)",
        format!(
            "{}.{}.{good_sig}",
            b64_json(&es_at),
            b64_json(&patch(&good, &[("roles", json!(["admin"]))], &[]))
        ),
        E::Signature,
    ));
    m.push(case(
        "header altered after signing (typ)",
        format!(
            "{}.{good_payload}.{good_sig}",
            b64_json(&hdr("ES256", Some("es-1"), Some("application/at+jwt")))
        ),
        E::Signature,
    ));
    m.push(case(
        "empty signature",
        format!("{good_msg}."),
        E::Signature,
    ));

    // Time.
    m.push(case(
        "expired one second past the leeway",
        signed(
            &es_at,
            &patch(&good, &[("exp", json!(now() - 31))], &[]),
            &w.es,
        ),
        E::Expired,
    ));
    m.push(case(
        "expired long ago",
        signed(&es_at, &patch(&good, &[("exp", json!(1))], &[]), &w.es),
        E::Expired,
    ));
    m.push(case(
        "nbf in the future beyond the leeway",
        signed(
            &es_at,
            &patch(&good, &[("nbf", json!(now() + 40))], &[]),
            &w.es,
        ),
        E::NotYetValid,
    ));
    m.push(case(
        "iat far in the future",
        signed(
            &es_at,
            &patch(&good, &[("iat", json!(now() + 3600))], &[]),
            &w.es,
        ),
        E::IssuedInFuture,
    ));
    m.push(case(
        "missing exp",
        signed(&es_at, &patch(&good, &[], &["exp"]), &w.es),
        E::Claim("exp"),
    ));
    m.push(case(
        "exp not a number",
        signed(
            &es_at,
            &patch(&good, &[("exp", json!("tomorrow"))], &[]),
            &w.es,
        ),
        E::Claim("exp"),
    ));
    m.push(case(
        "negative exp",
        signed(&es_at, &patch(&good, &[("exp", json!(-5))], &[]), &w.es),
        E::Claim("exp"),
    ));

    // Issuer.
    m.push(case(
        "unknown issuer",
        signed(
            &es_at,
            &patch(&good, &[("iss", json!("https://evil.example"))], &[]),
            &w.es,
        ),
        E::UnknownIssuer,
    ));
    m.push(case(
        "issuer with a trailing slash",
        signed(
            &es_at,
            &patch(&good, &[("iss", json!(format!("{a}/")))], &[]),
            &w.es,
        ),
        E::UnknownIssuer,
    ));
    m.push(case(
        "wrong iss: another trusted issuer, signed by a's key",
        signed(&es_at, &claims(&w.b.issuer), &w.es),
        E::UnknownKey,
    ));
    m.push(case(
        "missing iss",
        signed(&es_at, &patch(&good, &[], &["iss"]), &w.es),
        E::UnknownIssuer,
    ));
    m.push(case(
        "iss as an array",
        signed(&es_at, &patch(&good, &[("iss", json!([a]))], &[]), &w.es),
        E::Claim("iss"),
    ));

    // Audience and subject.
    m.push(case(
        "wrong aud",
        signed(
            &es_at,
            &patch(&good, &[("aud", json!("billing"))], &[]),
            &w.es,
        ),
        E::Audience,
    ));
    m.push(case(
        "aud array without our audience",
        signed(
            &es_at,
            &patch(&good, &[("aud", json!(["billing", "x"]))], &[]),
            &w.es,
        ),
        E::Audience,
    ));
    m.push(case(
        "empty aud array",
        signed(&es_at, &patch(&good, &[("aud", json!([]))], &[]), &w.es),
        E::Audience,
    ));
    m.push(case(
        "missing aud",
        signed(&es_at, &patch(&good, &[], &["aud"]), &w.es),
        E::Claim("aud"),
    ));
    m.push(case(
        "aud of another issuer's API (kc audience at a)",
        signed(&es_at, &patch(&good, &[("aud", json!(KC_AUD))], &[]), &w.es),
        E::Audience,
    ));
    m.push(case(
        "missing sub",
        signed(&es_at, &patch(&good, &[], &["sub"]), &w.es),
        E::Claim("sub"),
    ));
    m.push(case(
        "empty sub",
        signed(&es_at, &patch(&good, &[("sub", json!(""))], &[]), &w.es),
        E::Claim("sub"),
    ));
    m.push(case(
        "blank sub",
        signed(&es_at, &patch(&good, &[("sub", json!("   "))], &[]), &w.es),
        E::Claim("sub"),
    ));
    m.push(case(
        "sub not a string",
        signed(&es_at, &patch(&good, &[("sub", json!(42))], &[]), &w.es),
        E::Claim("sub"),
    ));

    // Token type.
    m.push(case(
        "ID token (header typ JWT, no typ claim)",
        signed(&hdr("ES256", Some("es-1"), Some("JWT")), &good, &w.es),
        E::NotAccessToken,
    ));
    m.push(case(
        "no typ anywhere",
        signed(&hdr("ES256", Some("es-1"), None), &good, &w.es),
        E::NotAccessToken,
    ));
    m.push(case(
        "Keycloak ID token (claim typ ID)",
        signed(
            &w.kc_header(),
            &patch(&w.kc_claims(), &[("typ", json!("ID"))], &[]),
            &w.kc_rsa,
        ),
        E::NotAccessToken,
    ));
    m.push(case(
        "Keycloak refresh-style token (claim typ Refresh)",
        signed(
            &w.kc_header(),
            &patch(&w.kc_claims(), &[("typ", json!("Refresh"))], &[]),
            &w.kc_rsa,
        ),
        E::NotAccessToken,
    ));
    m.push(case(
        "at+jwt header but claim typ ID",
        signed(&es_at, &patch(&good, &[("typ", json!("ID"))], &[]), &w.es),
        E::NotAccessToken,
    ));
    m.push(case(
        "header typ at+jwt+evil",
        signed(
            &hdr("ES256", Some("es-1"), Some("at+jwt+evil")),
            &good,
            &w.es,
        ),
        E::NotAccessToken,
    ));

    // Shape.
    m.push(case("empty token", String::new(), E::Size));
    m.push(case(
        "token over the size limit",
        signed(
            &es_at,
            &patch(&good, &[("pad", json!("x".repeat(MAX_TOKEN_BYTES)))], &[]),
            &w.es,
        ),
        E::Size,
    ));
    m.push(case(
        "truncated token (cut inside the payload)",
        good_token[..good_token.find('.').expect("dot") + 20].to_owned(),
        E::Malformed,
    ));
    m.push(case("two segments", good_msg.clone(), E::Malformed));
    m.push(case(
        "four segments",
        format!("{good_token}.{good_sig}"),
        E::Malformed,
    ));
    m.push(case("only dots", "..".into(), E::Malformed));
    let [h0, p0, s0] = {
        let parts: Vec<&str> = good_token.split('.').collect();
        [
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        ]
    };
    m.push(case(
        "garbled base64 in the header",
        format!("{}!!.{p0}.{s0}", &h0[..h0.len() - 2]),
        E::Malformed,
    ));
    m.push(case(
        "garbled base64 in the payload",
        format!("{h0}.{}*.{s0}", &p0[..p0.len() - 1]),
        E::Malformed,
    ));
    m.push(case(
        "garbled base64 in the signature",
        format!("{h0}.{p0}.{}$$", &s0[..s0.len() - 2]),
        E::Malformed,
    ));
    m.push(case(
        "padded base64 header",
        format!("{h0}==.{p0}.{s0}"),
        E::Malformed,
    ));
    m.push(case(
        "payload not JSON",
        format!("{h0}.{}.{s0}", b64("hello, world")),
        E::Malformed,
    ));
    m.push(case(
        "payload a JSON array",
        format!("{h0}.{}.{s0}", b64("[1,2,3]")),
        E::Malformed,
    ));
    m.push(case(
        "header not JSON",
        format!("{}.{p0}.{s0}", b64("{alg:ES256")),
        E::Malformed,
    ));
    m.push(case(
        "whitespace inside the token",
        format!("{h0}. {p0}.{s0}"),
        E::Malformed,
    ));
    m
}

#[tokio::test]
async fn attack_matrix_is_rejected_with_one_generic_401() {
    let w = World::new().await;
    let v = w.verifier();
    // Positive control: each key the matrix leans on verifies a good token,
    // so rejections below are due to the attack, not a broken setup.
    v.verify(&w.good_a()).await.expect("control ES256");
    for key in [&w.rsa, &w.es384, &w.ed] {
        v.verify(&signed(&at(key), &claims(&w.a.issuer), key))
            .await
            .expect("control");
    }
    v.verify(&signed(&at(&w.b_es), &claims(&w.b.issuer), &w.b_es))
        .await
        .expect("control b");
    v.verify(&signed(&w.kc_header(), &w.kc_claims(), &w.kc_rsa))
        .await
        .expect("control kc");

    let matrix = attack_matrix(&w);
    assert!(matrix.len() >= 40, "matrix has {} cases", matrix.len());
    let names: BTreeSet<&str> = matrix.iter().map(|c| c.name).collect();
    assert!(
        names.len() >= 40,
        "distinct case names: {} (of {})",
        names.len(),
        matrix.len()
    );

    let app = app(v.clone());
    let mut bodies = BTreeSet::new();
    let mut via_http = 0;
    let mut failures = Vec::new();
    for c in &matrix {
        let got = v.verify(&c.token).await;
        if got.as_ref().err() != Some(&c.expect) {
            failures.push(format!(
                "{}: expected Err({:?}), got {:?}",
                c.name,
                c.expect,
                got.map(|c| c.sub)
            ));
            continue;
        }
        let api: ApiError = got.expect_err("checked").into();
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED, "{}", c.name);
        assert_eq!(api.detail(), "the access token is not valid");
        if c.token.is_empty() {
            continue; // `Bearer ` with nothing after is bearer()'s own 401
        }
        if let Some((status, www, body)) = call(&app, &format!("Bearer {}", c.token)).await {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", c.name);
            assert_eq!(
                www.as_deref(),
                Some("Bearer realm=\"ticketgw\""),
                "{}",
                c.name
            );
            bodies.insert(body);
            via_http += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "matrix failures:\n{}",
        failures.join("\n")
    );
    assert!(
        via_http >= matrix.len() - 3,
        "only {via_http} cases went through HTTP"
    );
    eprintln!(
        "attack matrix: {} cases ({} distinct), {via_http} also through HTTP",
        matrix.len(),
        names.len()
    );
    assert_eq!(bodies.len(), 1, "every rejection must have the same body");
    let body: Value = serde_json::from_slice(bodies.first().expect("one")).expect("json");
    assert_eq!(body["detail"], "the access token is not valid");
    assert_eq!(body["code"], "unauthorized");
    assert_eq!(body["status"], 401);
}

// ---------------------------------------------------------------- negative controls

/// Each check, switched off through a private knob, lets its attack token
/// through: the matrix would notice a missing check.
#[tokio::test]
async fn negative_controls_each_knob_admits_its_attack() {
    use VerifyError as E;
    let w = World::new().await;
    let a = w.a.issuer.as_str();
    let good = claims(a);
    let es_at = at(&w.es);
    let controls: Vec<(&str, Relax, String, VerifyError)> = vec![
        (
            "aud",
            Relax {
                aud: true,
                ..Relax::default()
            },
            signed(
                &es_at,
                &patch(&good, &[("aud", json!("billing"))], &[]),
                &w.es,
            ),
            E::Audience,
        ),
        (
            "aud (missing)",
            Relax {
                aud: true,
                ..Relax::default()
            },
            signed(&es_at, &patch(&good, &[], &["aud"]), &w.es),
            E::Claim("aud"),
        ),
        (
            "exp",
            Relax {
                exp: true,
                ..Relax::default()
            },
            signed(
                &es_at,
                &patch(&good, &[("exp", json!(now() - 31))], &[]),
                &w.es,
            ),
            E::Expired,
        ),
        (
            "typ (ID token)",
            Relax {
                typ: true,
                ..Relax::default()
            },
            signed(&hdr("ES256", Some("es-1"), Some("JWT")), &good, &w.es),
            E::NotAccessToken,
        ),
        (
            "typ (Keycloak ID token)",
            Relax {
                typ: true,
                ..Relax::default()
            },
            signed(
                &w.kc_header(),
                &patch(&w.kc_claims(), &[("typ", json!("ID"))], &[]),
                &w.kc_rsa,
            ),
            E::NotAccessToken,
        ),
        (
            "alg allow-list",
            Relax {
                alg_allowlist: true,
                ..Relax::default()
            },
            sign_with(
                &hdr("PS256", Some("rsa-1"), Some("at+jwt")),
                &good,
                &w.rsa.enc,
                Algorithm::PS256,
            ),
            E::Algorithm,
        ),
        (
            "issuer pinning",
            Relax {
                issuer_pinning: true,
                ..Relax::default()
            },
            signed(&es_at, &claims(&w.b.issuer), &w.es),
            E::UnknownKey,
        ),
    ];
    for (name, relax, token, expect) in controls {
        let strict = w.verifier();
        let relaxed = w.relaxed(relax);
        // Load a's keys in both (issuer pinning needs them cached).
        strict.verify(&w.good_a()).await.expect("strict control");
        relaxed.verify(&w.good_a()).await.expect("relaxed control");
        assert_eq!(
            strict.verify(&token).await.map(|c| c.sub),
            Err(expect),
            "{name}: strict"
        );
        let claims = relaxed
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{name}: the relaxed verifier rejected it too: {e}"));
        assert!(!claims.sub.is_empty(), "{name}");
    }
}

// ---------------------------------------------------------------- config

#[tokio::test]
async fn config_rejects_symmetric_or_empty_algorithms_and_other_mistakes() {
    let w = World::new().await;
    let http = reqwest::Client::new();
    let base = || w.configs().remove(0);
    let build = |c: IssuerConfig| Verifier::new(vec![c], http.clone()).map(|_| ());

    for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let mut c = base();
        c.algorithms.push(hs);
        assert!(
            matches!(build(c), Err(ConfigError::SymmetricAlgorithm(_, a)) if a == hs),
            "{hs:?}"
        );
    }
    let mut c = base();
    c.algorithms.clear();
    assert!(matches!(build(c), Err(ConfigError::NoAlgorithm(_))));
    let mut c = base();
    c.audiences.clear();
    assert!(matches!(build(c), Err(ConfigError::NoAudience(_))));
    let mut c = base();
    c.audiences.push(String::new());
    assert!(matches!(build(c), Err(ConfigError::NoAudience(_))));
    let mut c = base();
    c.issuer = "  ".into();
    assert!(matches!(build(c), Err(ConfigError::EmptyIssuer)));
    let mut c = base();
    c.issuer = "urn:not-a-url".into();
    assert!(matches!(build(c), Err(ConfigError::NotAUrl(..))));
    let mut c = base();
    c.keys = KeySource::JwksUri("file:///etc/passwd".into());
    assert!(matches!(build(c), Err(ConfigError::NotAUrl(..))));
    let mut c = base();
    c.roles.admin.clear();
    assert!(matches!(build(c), Err(ConfigError::EmptyRoleName(_))));
    assert!(matches!(
        Verifier::new(vec![base(), base()], http.clone()),
        Err(ConfigError::DuplicateIssuer(_))
    ));
    assert!(build(base()).is_ok());
}

// ---------------------------------------------------------------- key cache

async fn single_issuer(keys: &[&TestKey]) -> (Idp, Verifier) {
    let idp = Idp::start("solo", keys).await;
    let v = Verifier::new(
        vec![IssuerConfig::new(
            idp.issuer.clone(),
            vec![AUD.into()],
            vec![Algorithm::ES256],
            KeySource::Discovery,
        )],
        reqwest::Client::new(),
    )
    .expect("config");
    (idp, v)
}

#[tokio::test]
async fn rotated_key_is_picked_up_without_a_restart() {
    let old = es256("2024-01");
    let (idp, v) = single_issuer(&[&old]).await;
    let iss = idp.issuer.clone();
    v.verify(&signed(&at(&old), &claims(&iss), &old))
        .await
        .expect("old key");
    assert_eq!(v.jwks_fetches(&iss), 1);

    let new = es256("2024-02");
    let token = signed(&at(&new), &claims(&iss), &new);
    // Not published yet: rejected (one refetch spent).
    assert_eq!(v.verify(&token).await, Err(VerifyError::UnknownKey));
    assert_eq!(v.jwks_fetches(&iss), 2);

    idp.set_keys(&[&old, &new]);
    let c = v.verify(&token).await.expect("rotated key");
    assert_eq!(c.iss, iss);
    assert_eq!(v.jwks_fetches(&iss), 3);
    // Cached now: no more fetches for either key.
    v.verify(&token).await.expect("cached");
    v.verify(&signed(&at(&old), &claims(&iss), &old))
        .await
        .expect("old still cached");
    assert_eq!(v.jwks_fetches(&iss), 3);
    assert_eq!(idp.jwks_hits(), 3);
    // Discovery ran once; its jwks_uri is reused.
    assert_eq!(idp.discovery_hits(), 1);
}

#[tokio::test]
async fn refetch_budget_is_ten_per_minute_and_never_waits() {
    let key = es256("k1");
    let (idp, v) = single_issuer(&[&key]).await;
    let iss = idp.issuer.clone();
    v.verify(&signed(&at(&key), &claims(&iss), &key))
        .await
        .expect("first load");
    for i in 0..20 {
        let t = signed(
            &hdr("ES256", Some(&format!("nope-{i}")), Some("at+jwt")),
            &claims(&iss),
            &key,
        );
        let started = Instant::now();
        assert_eq!(v.verify(&t).await, Err(VerifyError::UnknownKey));
        if i >= 9 {
            assert!(
                started.elapsed() < Duration::from_millis(200),
                "waited for budget"
            );
        }
    }
    assert_eq!(v.jwks_fetches(&iss), JWKS_FETCHES_PER_WINDOW as u64);
    assert_eq!(idp.jwks_hits(), JWKS_FETCHES_PER_WINDOW as u64);
    // The known key keeps working from the cache.
    v.verify(&signed(&at(&key), &claims(&iss), &key))
        .await
        .expect("cached key after the budget is spent");
    // Trade-off, documented: a key rotated in now waits for the window.
    let new = es256("k2");
    idp.set_keys(&[&key, &new]);
    assert_eq!(
        v.verify(&signed(&at(&new), &claims(&iss), &new)).await,
        Err(VerifyError::UnknownKey)
    );
    assert_eq!(idp.jwks_hits(), JWKS_FETCHES_PER_WINDOW as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_random_kids_causes_at_most_ten_fetches() {
    let key = es256("real");
    let (idp, v) = single_issuer(&[&key]).await;
    let iss = idp.issuer.clone();
    let good = signed(&at(&key), &claims(&iss), &key);
    v.verify(&good).await.expect("first load");

    const TOTAL: usize = 10_000;
    const BATCH: usize = 500;
    let base = claims(&iss);
    let tokens: Vec<String> = (0..TOTAL)
        .map(|_| {
            let kid = uuid::Uuid::new_v4().to_string();
            signed(&hdr("ES256", Some(&kid), Some("at+jwt")), &base, &key)
        })
        .collect();

    let started = Instant::now();
    let mut rejected = 0usize;
    for batch in tokens.chunks(BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for t in batch {
            let v = v.clone();
            let t = t.clone();
            set.spawn(async move { v.verify(&t).await });
        }
        while let Some(res) = set.join_next().await {
            assert_eq!(
                res.expect("task").map(|c| c.sub),
                Err(VerifyError::UnknownKey)
            );
            rejected += 1;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(rejected, TOTAL);
    let fetches = v.jwks_fetches(&iss);
    let hits = idp.jwks_hits();
    eprintln!(
        "flood: {TOTAL} unknown kids in {elapsed:?}; jwks_fetches={fetches}, server JWKS hits={hits}, discovery hits={}",
        idp.discovery_hits()
    );
    assert!(
        fetches <= JWKS_FETCHES_PER_WINDOW as u64,
        "{fetches} fetches"
    );
    assert!(hits <= JWKS_FETCHES_PER_WINDOW as u64, "{hits} JWKS hits");
    assert!(elapsed < Duration::from_secs(10), "flood took {elapsed:?}");
    // Legitimate traffic is unaffected.
    v.verify(&good).await.expect("good token after the flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_in_flight_fetch() {
    let key = es256("slow-1");
    let local = LocalKeys::new(&[&key], Duration::from_millis(200));
    let v = Verifier::new(
        vec![IssuerConfig::new(
            LOCAL_ISS,
            vec![AUD.into()],
            vec![Algorithm::ES256],
            KeySource::Local(local.clone()),
        )],
        reqwest::Client::new(),
    )
    .expect("config");
    let token = signed(&at(&key), &claims(LOCAL_ISS), &key);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let v = v.clone();
        let t = token.clone();
        set.spawn(async move { v.verify(&t).await });
    }
    while let Some(res) = set.join_next().await {
        res.expect("task").expect("verified");
    }
    assert_eq!(local.calls.load(Ordering::SeqCst), 1);
    assert_eq!(v.jwks_fetches(LOCAL_ISS), 1);
}

#[tokio::test]
async fn unreachable_or_lying_idp_means_401_not_panic() {
    let key = es256("k");
    let (idp, v) = single_issuer(&[&key]).await;
    let iss = idp.issuer.clone();
    let token = signed(&at(&key), &claims(&iss), &key);

    idp.set_failing(true);
    assert_eq!(v.verify(&token).await, Err(VerifyError::KeysUnavailable));
    let api: ApiError = VerifyError::KeysUnavailable.into();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    idp.set_failing(false);
    v.verify(&token).await.expect("recovered");

    // A discovery document naming another issuer is refused.
    let (idp2, v2) = single_issuer(&[&key]).await;
    *idp2.state.claimed_issuer.write().expect("lock") = Some("https://evil.example".into());
    let token2 = signed(&at(&key), &claims(&idp2.issuer), &key);
    assert_eq!(v2.verify(&token2).await, Err(VerifyError::KeysUnavailable));
    assert_eq!(idp2.jwks_hits(), 0);

    // Nobody listening at all.
    let v3 = Verifier::new(
        vec![IssuerConfig::new(
            "http://127.0.0.1:9/realms/none",
            vec![AUD.into()],
            vec![Algorithm::ES256],
            KeySource::JwksUri("http://127.0.0.1:9/certs".into()),
        )],
        reqwest::Client::new(),
    )
    .expect("config");
    let token3 = signed(&at(&key), &claims("http://127.0.0.1:9/realms/none"), &key);
    assert_eq!(v3.verify(&token3).await, Err(VerifyError::KeysUnavailable));

    // A JWKS of garbage keys loads as "no usable key".
    let (idp4, v4) = single_issuer(&[]).await;
    idp4.push_raw_key(json!({ "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "k" }));
    idp4.push_raw_key(json!("not an object"));
    let token4 = signed(&at(&key), &claims(&idp4.issuer), &key);
    assert_eq!(v4.verify(&token4).await, Err(VerifyError::UnknownKey));
}

#[test]
fn verify_error_converts_to_the_same_401() {
    let a: ApiError = VerifyError::Expired.into();
    let b: ApiError = VerifyError::Header("jku is not accepted").into();
    for e in [a, b] {
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(e.code(), "unauthorized");
        assert_eq!(e.detail(), "the access token is not valid");
    }
}
