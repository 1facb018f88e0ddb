//! The function runtime every Ticket Gateway function shares.
//!
//! A function crate exposes a [`FunctionSpec`] (its name, `router(state)`
//! and OpenAPI document); its `main.rs` calls [`run_function`]. The runtime
//! reads typed configuration from the environment, opens storage, adds the
//! operational routes (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`)
//! and the common layers (request ids, structured logs, metrics, body limit,
//! idempotency keys, problem+json fallbacks), then serves on `$PORT` for
//! Knative or through `lambda_http` when `AWS_LAMBDA_RUNTIME_API` is set.
//! Handlers never see which.

pub mod captcha;
pub mod client_ip;
pub mod config;
pub mod idempotency;
mod layers;
mod metrics_layer;
pub mod openapi;
pub mod rate_limit;
pub mod scheduler;
mod serve;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use jsonwebtoken::Algorithm;
use tg_auth::{Authenticator, IssuerConfig, JwksProvider, KeySource, RoleMapping, Verifier};
use tg_idp::KeyRing;
use tg_store::{ConnectOptions, DynStore, NewLocalUser, Role};

pub use captcha::Captcha;
pub use client_ip::{Cidr, ClientIp, ForwardedTrust};
pub use config::{Config, LogFormat};
pub use layers::{BODY_LIMIT_BYTES, with_platform};
pub use scheduler::Scheduler;
pub use serve::{install_metrics, run_function, serve, shutdown_signal};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub auth: Arc<Authenticator>,
    pub config: Arc<Config>,
    /// The built-in identity provider's keys (when it is enabled).
    pub idp: Option<Arc<KeyRing>>,
    /// CAPTCHA verification (when a secret is configured).
    pub captcha: Option<Arc<Captcha>>,
    /// The payment provider checkout uses (`None`: payments are off).
    pub payments: Option<Arc<dyn tg_payments::PaymentProvider>>,
    /// The simulated provider when it is the configured one (its pay step).
    pub simulated_payments: Option<Arc<tg_payments::simulated::SimulatedProvider>>,
    /// Outbound HTTP (JWKS, CAPTCHA, payment providers), built on first use.
    pub http: tg_auth::LazyClient,
    /// Bumped by every catalog write in this process; read caches compare
    /// it to drop entries at once (other instances rely on the cache TTL).
    pub catalog_generation: Arc<std::sync::atomic::AtomicU64>,
}

impl AppState {
    /// Marks the catalog changed (invalidates this process's read caches).
    pub fn catalog_changed(&self) {
        self.catalog_generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Adds the `bearer` (JWT) security scheme to a function's OpenAPI document:
/// `#[openapi(modifiers(&tg_platform::BearerAuth))]`.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Adds the `scheduler` security scheme (the shared secret of the
/// scheduled entry points, see [`scheduler`]) to a function's document.
pub struct SchedulerAuth;

impl utoipa::Modify for SchedulerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "scheduler",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Scheduler-Token",
                "TICKETGW_SCHEDULER_TOKEN; a Knative PingSource sends it as the CloudEvents extension `schedulertoken` (header `ce-schedulertoken`)",
            ))),
        );
    }
}

/// Runs `tick` every `every` until the process ends (the local platform's
/// stand-in for a Knative PingSource). A failing tick is logged and the
/// next one runs as usual.
pub async fn every<F, Fut, E>(every: std::time::Duration, what: &'static str, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Debug,
{
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = tick().await {
            tracing::warn!(error = ?e, "{what} failed; retrying on the next tick");
        }
    }
}

/// A function: one endpoint or a small group that scales together.
#[derive(Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub router: fn(AppState) -> Router,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// The built-in provider's public keys, read in process from storage (the
/// same set its JWKS URL serves).
struct BuiltinJwks(Arc<KeyRing>);

#[async_trait::async_trait]
impl JwksProvider for BuiltinJwks {
    async fn jwks(&self) -> anyhow::Result<jsonwebtoken::jwk::JwkSet> {
        self.0.jwks().await
    }
}

/// Opens storage, applies migrations when configured to, sets up the
/// built-in identity provider's keys, the first admin, and the token
/// verifier for every trusted issuer.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    tg_idp::passwords::configure(usize::try_from(config.password_hashing).unwrap_or(1));
    let store = tg_store::connect(
        config.database_url.expose(),
        &ConnectOptions {
            pool_size: config.pool_size,
        },
    )
    .await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    let http = tg_auth::LazyClient::new();

    let mut issuers = Vec::new();
    let idp = if config.builtin_idp {
        // Keys are loaded (or generated) on first use, so a function starts
        // without touching the database.
        let ring = Arc::new(KeyRing::new(config.public_url.clone(), store.clone()));
        issuers.push(IssuerConfig::new(
            config.public_url.clone(),
            vec![tg_idp::AUDIENCE.to_string()],
            vec![Algorithm::ES256],
            KeySource::Local(Arc::new(BuiltinJwks(ring.clone()))),
        ));
        Some(ring)
    } else {
        None
    };
    if let Some(oidc) = &config.oidc {
        let keys = match &oidc.jwks_url {
            Some(url) => KeySource::JwksUri(url.clone()),
            None => KeySource::Discovery,
        };
        let mut issuer = IssuerConfig::new(
            oidc.issuer.clone(),
            oidc.audiences.clone(),
            vec![
                Algorithm::RS256,
                Algorithm::ES256,
                Algorithm::PS256,
                Algorithm::EdDSA,
            ],
            keys,
        );
        let [user, organizer, admin] = oidc.role_names.clone();
        issuer.roles = RoleMapping {
            client_id: oidc.client_id.clone(),
            user,
            organizer,
            admin,
        };
        issuers.push(issuer);
    }
    if issuers.is_empty() {
        tracing::warn!("no token issuer is trusted: every protected route will answer 401");
    }
    let verifier = Verifier::new(issuers, http.clone())?;
    let auth = Authenticator::new(
        verifier,
        store.clone(),
        config.builtin_idp.then(|| config.public_url.clone()),
    );

    if let Some((email, password)) = &config.admin {
        ensure_admin(&store, email, password.expose()).await?;
    }
    let captcha = match &config.captcha {
        Some(c) => Some(Arc::new(Captcha::new(c.clone(), http.clone()))),
        None => {
            tracing::info!("CAPTCHA verification is off (no TICKETGW_RECAPTCHA_SECRET)");
            None
        }
    };
    let mut simulated_payments = None;
    let payments: Option<Arc<dyn tg_payments::PaymentProvider>> = match &config.payments {
        config::PaymentsConfig::Off => {
            tracing::info!("payments are off (set TICKETGW_PAYMENT_PROVIDER)");
            None
        }
        config::PaymentsConfig::Simulated => {
            tracing::warn!("payments use the SIMULATED provider: no money moves");
            let sim = Arc::new(tg_payments::simulated::SimulatedProvider::new(
                store.clone(),
                config.public_url.clone(),
            ));
            simulated_payments = Some(sim.clone());
            Some(sim)
        }
        config::PaymentsConfig::Stripe(c) => Some(Arc::new(
            tg_payments::stripe::StripeProvider::new(c.clone(), http.clone()),
        )),
    };
    Ok(AppState {
        payments,
        simulated_payments,
        store,
        auth: Arc::new(auth),
        config: Arc::new(config),
        idp,
        captcha,
        http,
        catalog_generation: Arc::default(),
    })
}

/// Creates the admin account of the built-in provider, or promotes the
/// existing account with that email, and returns its id.
pub async fn ensure_admin(
    store: &DynStore,
    email: &str,
    password: &str,
) -> anyhow::Result<uuid::Uuid> {
    let roles = [Role::User, Role::Organizer, Role::Admin];
    let email = email.trim().to_lowercase();
    if let Some((user, _)) = store
        .local_credentials(tg_store::BUILTIN_ISSUER, &email)
        .await?
    {
        let hash = hash_password(password).await?;
        store.set_password_hash(user.id, &hash).await?;
        store.set_roles(user.id, &roles, None).await?;
        return Ok(user.id);
    }
    let hash = hash_password(password).await?;
    let user = store
        .create_local_user(&NewLocalUser {
            iss: tg_store::BUILTIN_ISSUER.to_string(),
            email,
            name: "Administrator".into(),
            password_hash: hash,
            roles: roles.to_vec(),
        })
        .await?;
    store
        .append_audit(
            None,
            "user.admin_created",
            &format!("user:{}", user.id),
            &serde_json::json!({}),
        )
        .await?;
    Ok(user.id)
}

/// argon2id off the async threads.
pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    tg_idp::passwords::hash_async(password.to_string()).await
}
