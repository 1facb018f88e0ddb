//! The local platform as a library, so tests and benchmarks start exactly
//! what `ticketgw` serves.

pub mod demo;

use std::net::IpAddr;

use axum::Router;
use tg_platform::config::ConfigError;
use tg_platform::{AppState, Config, FunctionSpec, LogFormat, with_platform};

/// Every function the platform is made of, mounted together.
pub const FUNCTIONS: &[FunctionSpec] = &[
    identity::FUNCTION,
    accounts::FUNCTION,
    admin::FUNCTION,
    catalog_query::FUNCTION,
    catalog_manage::FUNCTION,
    bookings::FUNCTION,
    payments::FUNCTION,
    tickets::FUNCTION,
];

/// The local platform's configuration: the functions' configuration with
/// local defaults (listen on 127.0.0.1, human-readable logs).
pub fn local_config(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut config = Config::from_lookup(&get)?;
    if get("TICKETGW_BIND").is_none() {
        config.bind = IpAddr::from([127, 0, 0, 1]);
    }
    if get("TICKETGW_LOG_FORMAT").is_none() {
        config.log_format = LogFormat::Pretty;
    }
    // The local platform pays with the simulated provider unless told otherwise.
    if get("TICKETGW_PAYMENT_PROVIDER").is_none() && get("TICKETGW_STRIPE_API_KEY").is_none() {
        config.payments = tg_platform::config::PaymentsConfig::Simulated;
    }
    Ok(config)
}

/// The merged OpenAPI 3.1 document of every function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Ticket Gateway")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Event ticketing platform: the HTTP contract of every function.",
                ))
                .build(),
        )
        .build();
    for f in FUNCTIONS {
        doc.merge((f.openapi)());
    }
    tg_platform::openapi::standardize(&mut doc);
    doc
}

/// Every function's routes plus the platform routes and layers.
pub fn app(state: &AppState) -> Router {
    let routes = FUNCTIONS
        .iter()
        .fold(Router::new(), |r, f| r.merge((f.router)(state.clone())));
    with_platform(routes, state, openapi())
}

/// Starts the events pipeline inside this process: the outbox relay
/// (`TICKETGW_RELAY_TARGET`: `inprocess` by default, straight into the
/// notification handler; `amqp` publishes to RabbitMQ and a dispatcher
/// consumes the notification queue back into the handler; `sqs` publishes
/// to SQS for a Lambda consumer) and the outbox gauges. Events the handler
/// gives up on alert the operators.
pub fn start_events(state: &AppState) -> anyhow::Result<()> {
    use std::sync::Arc;
    use tg_events::{EventSink, Relay, RelayConfig, RelayTarget};
    let get = |k: &str| std::env::var(k).ok();
    let notifier = Arc::new(notifications::Notifier::new(
        state.store.clone(),
        notifications::NotifyConfig::from_env(&state.config)?,
    )?);
    let sink: Arc<dyn EventSink> = Arc::new(notifications::NotifierSink(notifier.clone()));
    let dls: Arc<dyn EventSink> = Arc::new(notifications::DeadLetterSink(notifier));
    let target = RelayTarget::from_lookup(get, "inprocess")?;
    let dead_sink = dls.clone();
    let relay = Relay::new(
        state.store.clone(),
        target.publisher(Some(sink.clone()))?,
        RelayConfig::from_lookup(get)?,
    )
    .on_dead(Arc::new(move |ev, err| {
        let mut ev = ev.clone();
        ev.set_extension(
            "knativeerrordata",
            err.chars().take(1000).collect::<String>(),
        );
        let dls = dead_sink.clone();
        tokio::spawn(async move {
            if let Err(e) = dls.deliver(&ev).await {
                tracing::error!(error = ?e, "dead-letter alert failed");
            }
        });
    }));
    if let RelayTarget::Amqp { url, exchange } = &target {
        let mut config = tg_events::dispatch::DispatchConfig::in_process(url, exchange);
        if let Some(q) = get("TICKETGW_DISPATCH_QUEUE").filter(|q| !q.trim().is_empty()) {
            config.queue = q;
        }
        tokio::spawn(tg_events::dispatch::run(
            config,
            sink,
            Some(dls),
            std::future::pending(),
        ));
    }
    tokio::spawn(relay.run(std::future::pending()));
    tokio::spawn(tg_events::relay::report_stats(
        state.store.clone(),
        std::time::Duration::from_secs(5),
    ));
    Ok(())
}
