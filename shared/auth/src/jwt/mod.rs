//! Access-token (JWT) verification: the one verifier every function uses,
//! whatever issued the token (Keycloak in production, the platform's built-in
//! identity provider locally, any standard OIDC provider in tests).
//!
//! # What is checked
//!
//! * Size first: a token longer than [`MAX_TOKEN_BYTES`] or a `kid` longer
//!   than [`MAX_KID_BYTES`] is rejected before any decoding or key work.
//! * Shape: a compact JWS with exactly three base64url (unpadded) segments,
//!   a JSON-object header and payload.
//! * Header: `alg` must be one of the asymmetric algorithms
//!   (RS/PS 256/384/512, ES256/ES384, EdDSA) *and* in the issuer's allow-list.
//!   `none` (any letter case), `HS*` and unknown names are rejected. A header
//!   carrying `jku`, `x5u`, `jwk` or `crit` is rejected outright; `x5c` is
//!   ignored. Keys named or embedded in the token are never used or fetched.
//! * Issuer: picked by exact string match of the (not yet verified) `iss`
//!   claim; an unknown issuer is rejected. Keys come only from that issuer's
//!   [`KeySource`]; after the signature check `iss` is validated again.
//! * Key: the JWK with the token's `kid`, which must fit the algorithm (JWK
//!   `alg`, when present, equal to the header `alg`; RSA key for RS*/PS*, EC
//!   P-256 for ES256, EC P-384 for ES384, OKP Ed25519 for EdDSA; `use`, when
//!   present, `sig`). Symmetric (`oct`) JWKs are never loaded.
//!   **Tokens without `kid`** are accepted only when the issuer's key set has
//!   exactly one key that fits the header `alg`: this keeps single-key
//!   providers working while never guessing between several candidate keys.
//! * Claims: signature, `exp` (required), `nbf` (when present), `iat` (when
//!   present, not more than 5 minutes beyond the leeway in the future), `iss`,
//!   `aud` (required; string or array; must intersect the configured
//!   audiences), `sub` (required, non-empty). The clock leeway is the
//!   issuer's `leeway_secs` clamped to [`MAX_LEEWAY_SECS`].
//! * Token type: an ID token is not an access token. Accepted are a header
//!   `typ` of `at+jwt` / `application/at+jwt` (any letter case; RFC 9068) or a
//!   payload claim `typ: "Bearer"` (Keycloak). A payload `typ` other than
//!   `Bearer` (Keycloak ID tokens say `"ID"`) is always rejected.
//!
//! # Key cache
//!
//! Each issuer's JWKS is cached. A token whose `kid` is not in the cache
//! triggers a refetch, so key rotation needs no restart; refetches are limited
//! to [`JWKS_FETCHES_PER_WINDOW`] per rolling [`JWKS_FETCH_WINDOW`] per issuer
//! (the first load counts), so a flood of made-up `kid`s cannot hammer the
//! identity provider. Once the budget is spent, unknown `kid`s are rejected at
//! once (nobody waits for budget). Concurrent requests that need a refetch
//! share one fetch. A key set older than [`MAX_KEY_AGE`] is refreshed by the
//! next request that uses it, unless a fetch is already in flight (the old
//! set stays in use if the refresh fails), so removed keys stop being
//! accepted without a restart.
//! A failed fetch is logged (`warn`) and answers 401 for the request.
//!
//! The token itself is never logged.

mod keys;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use serde_json::{Map, Value};
use tg_http::ApiError;
use tg_store::Role;

pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::{Jwk, JwkSet};

use keys::KeyStore;

/// Longest token accepted (bytes); longer ones are rejected before decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `kid` accepted (bytes).
pub const MAX_KID_BYTES: usize = 128;
/// Upper bound of the configurable clock leeway.
pub const MAX_LEEWAY_SECS: u64 = 60;
/// JWKS fetches allowed per issuer within [`JWKS_FETCH_WINDOW`].
pub const JWKS_FETCHES_PER_WINDOW: usize = 10;
/// The rolling window of the JWKS fetch budget.
pub const JWKS_FETCH_WINDOW: Duration = Duration::from_secs(60);
/// A cached key set older than this is refreshed opportunistically.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(15 * 60);
/// How far beyond the leeway `iat` may lie in the future.
const IAT_MAX_FUTURE_SECS: u64 = 300;

/// The algorithms a verifier can accept (all asymmetric).
pub const ASYMMETRIC_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Where an issuer's signing keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// `{issuer}/.well-known/openid-configuration` -> `jwks_uri` -> JWKS
    /// (over HTTP). The discovery document's `issuer` must equal the
    /// configured issuer.
    Discovery,
    /// A fixed JWKS URL.
    JwksUri(String),
    /// Keys provided in process (the built-in provider reads its public keys
    /// from storage).
    Local(Arc<dyn JwksProvider>),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Discovery => f.write_str("Discovery"),
            KeySource::JwksUri(uri) => f.debug_tuple("JwksUri").field(uri).finish(),
            KeySource::Local(_) => f.write_str("Local(..)"),
        }
    }
}

/// Supplies an issuer's public keys in process.
#[async_trait]
pub trait JwksProvider: Send + Sync {
    async fn jwks(&self) -> anyhow::Result<JwkSet>;
}

/// How role names in a token map to [`Role`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    /// When set, `resource_access.<client_id>.roles` (Keycloak client roles)
    /// are read too.
    pub client_id: Option<String>,
    pub user: String,
    pub organizer: String,
    pub admin: String,
}

impl Default for RoleMapping {
    fn default() -> Self {
        Self {
            client_id: None,
            user: Role::User.as_str().into(),
            organizer: Role::Organizer.as_str().into(),
            admin: Role::Admin.as_str().into(),
        }
    }
}

/// One trusted token issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values (the token must name at least one).
    pub audiences: Vec<String>,
    /// Accepted signing algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
    /// Clock leeway for `exp`/`nbf`; clamped to [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u64,
    pub roles: RoleMapping,
}

impl IssuerConfig {
    /// An issuer with a 30 s leeway and the default role names.
    pub fn new(
        issuer: impl Into<String>,
        audiences: Vec<String>,
        algorithms: Vec<Algorithm>,
        keys: KeySource,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            algorithms,
            keys,
            leeway_secs: 30,
            roles: RoleMapping::default(),
        }
    }
}

/// A verifier configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("an issuer is empty")]
    EmptyIssuer,
    #[error("issuer `{0}` is configured twice")]
    DuplicateIssuer(String),
    #[error("issuer `{0}` has no audience (or an empty one)")]
    NoAudience(String),
    #[error("issuer `{0}` allows no algorithm")]
    NoAlgorithm(String),
    #[error("issuer `{0}` allows {1:?}; only asymmetric algorithms are accepted")]
    SymmetricAlgorithm(String, Algorithm),
    #[error("issuer `{0}`: {1} must be an http(s) URL")]
    NotAUrl(String, &'static str),
    #[error("issuer `{0}` has an empty role name")]
    EmptyRoleName(String),
}

/// Why a token was rejected. For logs only: every variant becomes the same
/// 401 response (see the `From` impl for [`ApiError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the token is empty or larger than the size limit")]
    Size,
    #[error("the token is not a well-formed JWS")]
    Malformed,
    #[error("the token header is not acceptable: {0}")]
    Header(&'static str),
    #[error("the signing algorithm is not accepted")]
    Algorithm,
    #[error("the issuer is not trusted")]
    UnknownIssuer,
    #[error("no signing key of the issuer has the token's kid")]
    UnknownKey,
    #[error("the signing key does not fit the token's algorithm")]
    KeyMismatch,
    #[error("the token has no kid and several keys fit")]
    AmbiguousKey,
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
    #[error("the signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the issuer claim does not match")]
    Issuer,
    #[error("the audience does not match")]
    Audience,
    #[error("claim `{0}` is missing or not valid")]
    Claim(&'static str),
    #[error("the token is not an access token")]
    NotAccessToken,
}

impl From<VerifyError> for ApiError {
    fn from(err: VerifyError) -> Self {
        tracing::debug!(reason = %err, "access token rejected");
        ApiError::unauthorized("the access token is not valid")
    }
}

/// The verified identity carried by an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// Always contains [`Role::User`]; sorted, no duplicates.
    pub roles: Vec<Role>,
    pub email: Option<String>,
    /// `name`, else `preferred_username`.
    pub name: Option<String>,
    pub sid: Option<String>,
    pub jti: Option<String>,
    pub exp: i64,
}

/// Checks switched off, for the test suite's negative controls only (there
/// is no public way to set them).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Relax {
    pub aud: bool,
    pub exp: bool,
    pub typ: bool,
    pub alg_allowlist: bool,
    pub issuer_pinning: bool,
}

/// Verifies access tokens of the configured issuers. Cheap to clone (the
/// per-issuer state, including the key caches, is shared).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: HashMap<String, Issuer>,
    relax: Relax,
}

struct Issuer {
    algorithms: Vec<Algorithm>,
    leeway: u64,
    roles: RoleMapping,
    /// One validation per asymmetric algorithm (the allow-list is checked
    /// separately, before any key work).
    validations: Vec<(Algorithm, Validation)>,
    keys: KeyStore,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.inner.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("Verifier")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// `http` is used only for `Discovery` and `JwksUri` sources; pass a
    /// [`crate::LazyClient`] so it is built only if a fetch happens.
    pub fn new(
        issuers: Vec<IssuerConfig>,
        http: impl Into<crate::LazyClient>,
    ) -> Result<Self, ConfigError> {
        Self::build(issuers, http.into(), Relax::default())
    }

    /// A verifier with some checks switched off (negative controls).
    #[cfg(test)]
    pub(crate) fn relaxed(
        issuers: Vec<IssuerConfig>,
        http: reqwest::Client,
        relax: Relax,
    ) -> Result<Self, ConfigError> {
        Self::build(issuers, http.into(), relax)
    }

    fn build(
        configs: Vec<IssuerConfig>,
        http: crate::LazyClient,
        relax: Relax,
    ) -> Result<Self, ConfigError> {
        let mut issuers = HashMap::with_capacity(configs.len());
        for cfg in configs {
            check_config(&cfg)?;
            if issuers.contains_key(&cfg.issuer) {
                return Err(ConfigError::DuplicateIssuer(cfg.issuer));
            }
            let leeway = cfg.leeway_secs.min(MAX_LEEWAY_SECS);
            let validations = ASYMMETRIC_ALGORITHMS
                .iter()
                .map(|&alg| (alg, validation(&cfg, alg, leeway, relax)))
                .collect();
            let issuer = Issuer {
                algorithms: cfg.algorithms,
                leeway,
                roles: cfg.roles,
                validations,
                keys: KeyStore::new(cfg.issuer.clone(), cfg.keys, http.clone()),
            };
            issuers.insert(cfg.issuer, issuer);
        }
        Ok(Self {
            inner: Arc::new(Inner { issuers, relax }),
        })
    }

    /// JWKS fetch attempts made so far for `issuer` (0 for an unknown one).
    pub fn jwks_fetches(&self, issuer: &str) -> u64 {
        self.inner
            .issuers
            .get(issuer)
            .map_or(0, |i| i.keys.fetches())
    }

    /// Verifies an access token. Every `Err` must become a 401.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Size);
        }
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(VerifyError::Malformed);
        };
        let header = TokenHeader::parse(header)?;
        let payload = b64_json(payload)?;
        let iss = match payload.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(VerifyError::Claim("iss")),
            None => return Err(VerifyError::UnknownIssuer),
        };
        let relax = self.inner.relax;
        let issuer = self
            .inner
            .issuers
            .get(iss)
            .ok_or(VerifyError::UnknownIssuer)?;
        if !relax.alg_allowlist && !issuer.algorithms.contains(&header.alg) {
            return Err(VerifyError::Algorithm);
        }

        let key = match issuer.keys.find(header.kid.as_deref(), header.alg).await {
            Ok(key) => key,
            Err(VerifyError::UnknownKey) if relax.issuer_pinning => self
                .any_issuer_key(header.kid.as_deref(), header.alg)
                .ok_or(VerifyError::UnknownKey)?,
            Err(e) => return Err(e),
        };
        let validation = issuer
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .map(|(_, v)| v)
            .ok_or(VerifyError::Algorithm)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, validation)
            .map_err(|e| map_jwt_error(e.kind()))?;
        issuer.claims(&header, data.claims, relax)
    }

    /// Negative control for issuer pinning: any issuer's cached key.
    fn any_issuer_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<keys::CachedKey>> {
        self.inner
            .issuers
            .values()
            .find_map(|i| i.keys.cached(kid, alg))
    }
}

fn check_config(cfg: &IssuerConfig) -> Result<(), ConfigError> {
    let name = || cfg.issuer.clone();
    if cfg.issuer.trim().is_empty() {
        return Err(ConfigError::EmptyIssuer);
    }
    if cfg.audiences.is_empty() || cfg.audiences.iter().any(|a| a.is_empty()) {
        return Err(ConfigError::NoAudience(name()));
    }
    if cfg.algorithms.is_empty() {
        return Err(ConfigError::NoAlgorithm(name()));
    }
    if let Some(alg) = cfg
        .algorithms
        .iter()
        .find(|a| !ASYMMETRIC_ALGORITHMS.contains(a))
    {
        return Err(ConfigError::SymmetricAlgorithm(name(), *alg));
    }
    match &cfg.keys {
        KeySource::Discovery if !is_http_url(&cfg.issuer) => {
            return Err(ConfigError::NotAUrl(name(), "the issuer (for discovery)"));
        }
        KeySource::JwksUri(uri) if !is_http_url(uri) => {
            return Err(ConfigError::NotAUrl(name(), "the JWKS URI"));
        }
        _ => {}
    }
    let r = &cfg.roles;
    if [&r.user, &r.organizer, &r.admin]
        .iter()
        .any(|n| n.is_empty())
        || r.client_id.as_deref() == Some("")
    {
        return Err(ConfigError::EmptyRoleName(name()));
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

fn validation(cfg: &IssuerConfig, alg: Algorithm, leeway: u64, relax: Relax) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = leeway;
    v.validate_exp = !relax.exp;
    v.validate_nbf = true;
    v.validate_aud = !relax.aud;
    let mut required = vec!["iss", "sub"];
    if !relax.exp {
        required.push("exp");
    }
    if !relax.aud {
        required.push("aud");
    }
    v.set_required_spec_claims(&required);
    v.set_audience(&cfg.audiences);
    if !relax.issuer_pinning {
        v.set_issuer(&[&cfg.issuer]);
    }
    v
}

fn map_jwt_error(kind: &ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::InvalidSignature => VerifyError::Signature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidIssuer => VerifyError::Issuer,
        ErrorKind::InvalidAudience => VerifyError::Audience,
        ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => {
            VerifyError::Claim(claim_name(c))
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => VerifyError::Algorithm,
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => VerifyError::KeyMismatch,
        _ => VerifyError::Malformed,
    }
}

fn claim_name(c: &str) -> &'static str {
    match c {
        "exp" => "exp",
        "nbf" => "nbf",
        "aud" => "aud",
        "iss" => "iss",
        "sub" => "sub",
        _ => "unknown",
    }
}

fn b64_json(segment: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)
}

/// The header fields this module looks at, parsed before any key work.
struct TokenHeader {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
}

impl TokenHeader {
    fn parse(segment: &str) -> Result<Self, VerifyError> {
        // A kid over the limit makes the header segment long too; this also
        // bounds the base64 work (the whole token is bounded already).
        let map = b64_json(segment)?;
        for (name, why) in [
            ("jku", "jku is not accepted"),
            ("x5u", "x5u is not accepted"),
            ("jwk", "jwk is not accepted"),
            ("crit", "crit is not supported"),
        ] {
            if map.contains_key(name) {
                return Err(VerifyError::Header(why));
            }
        }
        let alg = match map.get("alg") {
            Some(Value::String(name)) => parse_alg(name).ok_or(VerifyError::Algorithm)?,
            _ => return Err(VerifyError::Algorithm),
        };
        let kid = match map.get("kid") {
            None => None,
            Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES => {
                Some(kid.clone())
            }
            Some(_) => return Err(VerifyError::Header("kid is not a short string")),
        };
        let typ = match map.get("typ") {
            None => None,
            Some(Value::String(typ)) => Some(typ.clone()),
            Some(_) => return Err(VerifyError::Header("typ is not a string")),
        };
        Ok(Self { alg, kid, typ })
    }

    /// RFC 9068 access-token media type.
    fn is_at_jwt(&self) -> bool {
        self.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        })
    }
}

/// Exact (case-sensitive) names of the asymmetric algorithms only.
fn parse_alg(name: &str) -> Option<Algorithm> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    };
    Some(alg)
}

#[derive(Deserialize, Default)]
struct RoleList {
    #[serde(default)]
    roles: Vec<Value>,
}

impl Issuer {
    /// Checks beyond what `jsonwebtoken` validates, then builds [`Claims`].
    fn claims(
        &self,
        header: &TokenHeader,
        claims: Map<String, Value>,
        relax: Relax,
    ) -> Result<Claims, VerifyError> {
        let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);

        let claim_typ = match claims.get("typ") {
            None => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => return Err(VerifyError::NotAccessToken),
        };
        if !relax.typ {
            let bearer_claim = claim_typ.is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
            if claim_typ.is_some() && !bearer_claim {
                return Err(VerifyError::NotAccessToken);
            }
            if !header.is_at_jwt() && !bearer_claim {
                return Err(VerifyError::NotAccessToken);
            }
        }

        let sub = match str_claim("sub") {
            Some(sub) if !sub.trim().is_empty() => sub.to_owned(),
            _ => return Err(VerifyError::Claim("sub")),
        };
        let iss = str_claim("iss")
            .ok_or(VerifyError::Claim("iss"))?
            .to_owned();
        let exp = match claims.get("exp") {
            Some(v) => numeric(v).ok_or(VerifyError::Claim("exp"))?,
            None if relax.exp => 0,
            None => return Err(VerifyError::Claim("exp")),
        };
        if let Some(iat) = claims.get("iat") {
            let iat = numeric(iat).ok_or(VerifyError::Claim("iat"))?;
            let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
            let limit = now.saturating_add((self.leeway + IAT_MAX_FUTURE_SECS) as i64);
            if iat > limit {
                return Err(VerifyError::IssuedInFuture);
            }
        }

        let roles = self.map_roles(&claims);
        Ok(Claims {
            iss,
            sub,
            roles,
            email: str_claim("email").map(str::to_owned),
            name: str_claim("name")
                .or_else(|| str_claim("preferred_username"))
                .map(str::to_owned),
            sid: str_claim("sid").map(str::to_owned),
            jti: str_claim("jti").map(str::to_owned),
            exp,
        })
    }

    fn map_roles(&self, claims: &Map<String, Value>) -> Vec<Role> {
        let list = |v: Option<&Value>| -> Vec<Value> {
            v.and_then(|v| RoleList::deserialize(v).ok())
                .unwrap_or_default()
                .roles
        };
        let mut names = list(claims.get("realm_access"));
        if let Some(client) = &self.roles.client_id {
            names.extend(list(
                claims
                    .get("resource_access")
                    .and_then(|r| r.get(client.as_str())),
            ));
        }
        if let Some(Value::Array(top)) = claims.get("roles") {
            names.extend(top.iter().cloned());
        }

        let mut roles = vec![Role::User];
        for name in names.iter().filter_map(Value::as_str) {
            let role = if name == self.roles.admin {
                Role::Admin
            } else if name == self.roles.organizer {
                Role::Organizer
            } else if name == self.roles.user {
                Role::User
            } else {
                continue;
            };
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        roles.sort_by_key(|r| Role::ALL.iter().position(|a| a == r));
        roles
    }
}

/// A NumericDate (integer or fractional seconds).
fn numeric(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e15)
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
}
