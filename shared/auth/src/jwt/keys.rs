//! Per-issuer signing-key cache: JWKS loading, the fetch budget, and key
//! selection by `kid` and algorithm.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use super::{
    ASYMMETRIC_ALGORITHMS, JWKS_FETCH_WINDOW, JWKS_FETCHES_PER_WINDOW, KeySource, MAX_KEY_AGE,
    VerifyError,
};

/// Upper bound of one key load (discovery + JWKS, or the local provider).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document / JWKS body read.
const MAX_BODY_BYTES: usize = 512 * 1024;
/// Smallest RSA modulus accepted (bytes, i.e. 2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// What kind of public key a JWK holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyKind::Rsa => alg.family() == AlgorithmFamily::Rsa,
            KeyKind::P256 => alg == Algorithm::ES256,
            KeyKind::P384 => alg == Algorithm::ES384,
            KeyKind::Ed25519 => alg == Algorithm::EdDSA,
        }
    }
}

/// One usable verification key.
pub(crate) struct CachedKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    kind: KeyKind,
    pub(crate) decoding: DecodingKey,
}

impl CachedKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|a| a == alg) && self.kind.fits(alg)
    }

    /// `None` for keys that must never verify a token: symmetric keys,
    /// encryption keys, unsupported curves or algorithms, weak RSA, keys
    /// whose `alg` contradicts their type.
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        let common = &jwk.common;
        if common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        if common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            return None;
        }
        let alg = match common.key_algorithm {
            None => None,
            Some(ka) => match Algorithm::try_from(ka) {
                Ok(a) if ASYMMETRIC_ALGORITHMS.contains(&a) => Some(a),
                _ => return None,
            },
        };
        let (kind, decoding) = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => {
                let n = URL_SAFE_NO_PAD.decode(&p.n).ok()?;
                let e = URL_SAFE_NO_PAD.decode(&p.e).ok()?;
                let significant = n.iter().skip_while(|b| **b == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES || e.is_empty() {
                    return None;
                }
                (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
            }
            AlgorithmParameters::EllipticCurve(p) => {
                let (kind, len) = match p.curve {
                    EllipticCurve::P256 => (KeyKind::P256, 32),
                    EllipticCurve::P384 => (KeyKind::P384, 48),
                    _ => return None,
                };
                let x = URL_SAFE_NO_PAD.decode(&p.x).ok()?;
                let y = URL_SAFE_NO_PAD.decode(&p.y).ok()?;
                if x.len() != len || y.len() != len {
                    return None;
                }
                (kind, DecodingKey::from_ec_components(&p.x, &p.y).ok()?)
            }
            AlgorithmParameters::OctetKeyPair(p) => {
                if p.curve != EllipticCurve::Ed25519 {
                    return None;
                }
                if URL_SAFE_NO_PAD.decode(&p.x).ok()?.len() != 32 {
                    return None;
                }
                (
                    KeyKind::Ed25519,
                    DecodingKey::from_ed_components(&p.x).ok()?,
                )
            }
            // `oct` (symmetric) and anything unknown.
            _ => return None,
        };
        if alg.is_some_and(|a| !kind.fits(a)) {
            return None;
        }
        Some(Self {
            kid: common.key_id.clone(),
            alg,
            kind,
            decoding,
        })
    }
}

/// Why no key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// No key with that kid (or, without kid, none fits): worth a refetch.
    NotFound,
    /// Keys with that kid exist but none fits the algorithm.
    Mismatch,
    /// No kid and several keys fit.
    Ambiguous,
}

/// A snapshot of an issuer's usable keys.
struct KeySet {
    keys: Vec<Arc<CachedKey>>,
    /// `None` until the first successful load.
    loaded_at: Option<Instant>,
}

impl KeySet {
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<CachedKey>, Miss> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Err(Miss::NotFound);
                }
                named.find(|k| k.fits(alg)).cloned().ok_or(Miss::Mismatch)
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Ok(k.clone()),
                    (None, _) => Err(Miss::NotFound),
                    (Some(_), Some(_)) => Err(Miss::Ambiguous),
                }
            }
        }
    }

    fn is_stale(&self) -> bool {
        self.loaded_at.is_none_or(|t| t.elapsed() >= MAX_KEY_AGE)
    }
}

/// An issuer's key cache.
pub(crate) struct KeyStore {
    issuer: String,
    source: KeySource,
    http: crate::LazyClient,
    current: RwLock<Arc<KeySet>>,
    /// Bumped after every load attempt (success or not): a request that saw
    /// an older epoch knows a load happened since and does not start another.
    epoch: AtomicU64,
    /// Serialises loads; holds the `jwks_uri` found by discovery.
    loading: tokio::sync::Mutex<Option<String>>,
    /// Start times of the loads within the budget window.
    recent: Mutex<VecDeque<Instant>>,
    fetches: AtomicU64,
}

impl KeyStore {
    pub(crate) fn new(issuer: String, source: KeySource, http: crate::LazyClient) -> Self {
        Self {
            issuer,
            source,
            http,
            current: RwLock::new(Arc::new(KeySet {
                keys: Vec::new(),
                loaded_at: None,
            })),
            epoch: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(None),
            recent: Mutex::new(VecDeque::with_capacity(JWKS_FETCHES_PER_WINDOW)),
            fetches: AtomicU64::new(0),
        }
    }

    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A key from the cache only (never fetches).
    pub(crate) fn cached(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<CachedKey>> {
        self.snapshot().lookup(kid, alg).ok()
    }

    /// The key that must verify a token with this `kid` and `alg`.
    pub(crate) async fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<CachedKey>, VerifyError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut set = self.snapshot();
        let mut found = set.lookup(kid, alg);
        if matches!(found, Err(Miss::NotFound)) {
            // Unknown kid (or first use): wait for a load, within budget.
            if let Some(fresh) = self.reload(epoch, true).await {
                set = fresh;
                found = set.lookup(kid, alg);
            }
        } else if set.is_stale() {
            // Known key but an old set: refresh unless a load is running;
            // keep the old set if the refresh fails.
            if let Some(fresh) = self.reload(epoch, false).await {
                set = fresh;
                found = set.lookup(kid, alg);
            }
        }
        match found {
            Ok(key) => Ok(key),
            Err(Miss::NotFound) if set.loaded_at.is_none() => Err(VerifyError::KeysUnavailable),
            Err(Miss::NotFound) => Err(VerifyError::UnknownKey),
            Err(Miss::Mismatch) => Err(VerifyError::KeyMismatch),
            Err(Miss::Ambiguous) => Err(VerifyError::AmbiguousKey),
        }
    }

    /// Takes one unit of the fetch budget (`take`) or only checks that one
    /// is left. Never waits.
    fn budget(&self, take: bool) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= JWKS_FETCH_WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= JWKS_FETCHES_PER_WINDOW {
            return false;
        }
        if take {
            recent.push_back(now);
        }
        true
    }

    /// Loads the key set unless one was loaded since `seen_epoch`, the
    /// budget is spent, or (`wait == false`) a load is already running.
    /// Returns the set to use, or `None` to go on with the current one.
    async fn reload(&self, seen_epoch: u64, wait: bool) -> Option<Arc<KeySet>> {
        if !self.budget(false) {
            tracing::debug!(issuer = %self.issuer, "JWKS refetch budget spent");
            return None;
        }
        let mut jwks_uri = if wait {
            self.loading.lock().await
        } else {
            self.loading.try_lock().ok()?
        };
        if self.epoch.load(Ordering::Acquire) != seen_epoch {
            // Someone loaded while we waited: use their result.
            return Some(self.snapshot());
        }
        if !self.budget(true) {
            return None;
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::time::timeout(FETCH_TIMEOUT, self.load(&mut jwks_uri)).await;
        let result = match outcome {
            Ok(Ok(keys)) => {
                if keys.is_empty() {
                    tracing::warn!(issuer = %self.issuer, "the issuer's JWKS has no usable signing key");
                }
                let set = Arc::new(KeySet {
                    keys,
                    loaded_at: Some(Instant::now()),
                });
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = set.clone();
                Some(set)
            }
            Ok(Err(e)) => {
                tracing::warn!(issuer = %self.issuer, error = format!("{e:#}"), "could not load the issuer's signing keys");
                None
            }
            Err(_) => {
                *jwks_uri = None;
                tracing::warn!(issuer = %self.issuer, "loading the issuer's signing keys timed out");
                None
            }
        };
        self.epoch.fetch_add(1, Ordering::Release);
        result
    }

    async fn load(&self, jwks_uri: &mut Option<String>) -> anyhow::Result<Vec<Arc<CachedKey>>> {
        let keys: Vec<Jwk> = match &self.source {
            KeySource::Local(provider) => provider.jwks().await?.keys,
            KeySource::JwksUri(uri) => self.fetch_jwks(uri).await?,
            KeySource::Discovery => {
                let uri = match jwks_uri.take() {
                    Some(uri) => uri,
                    None => self.discover().await?,
                };
                let keys = self.fetch_jwks(&uri).await?;
                // Kept only after a successful JWKS fetch: a failure
                // rediscovers next time.
                *jwks_uri = Some(uri);
                keys
            }
        };
        Ok(keys
            .iter()
            .filter_map(CachedKey::from_jwk)
            .map(Arc::new)
            .collect())
    }

    async fn discover(&self) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc: Discovery = serde_json::from_value(self.get_json(&url).await?)
            .context("the discovery document has no `issuer`/`jwks_uri`")?;
        if doc.issuer != self.issuer {
            bail!("the discovery document names another issuer");
        }
        if !super::is_http_url(&doc.jwks_uri) {
            bail!("the discovery document's jwks_uri is not an http(s) URL");
        }
        Ok(doc.jwks_uri)
    }

    /// A JWKS; keys that do not parse are skipped (an IdP may publish key
    /// types this crate does not know).
    async fn fetch_jwks(&self, url: &str) -> anyhow::Result<Vec<Jwk>> {
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<Value>,
        }
        let set: RawSet = serde_json::from_value(self.get_json(url).await?)
            .context("the JWKS has no `keys` array")?;
        Ok(set
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value(k).ok())
            .collect())
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let mut resp = self
            .http
            .get()
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if !resp.status().is_success() {
            bail!("GET {url} answered {}", resp.status());
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            bail!("GET {url}: the body is too large");
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.with_context(|| format!("GET {url}"))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                bail!("GET {url}: the body is too large");
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
    }
}
