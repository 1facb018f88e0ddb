//! Structured logs through `tracing`: JSON lines by default (fit for Loki),
//! filtered by `RUST_LOG` (default `info`); and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, OpenTelemetry traces exported over OTLP/HTTP (protobuf), with W3C
//! trace context taken from incoming requests (`traceparent`) and carried
//! on through outgoing calls and CloudEvents (the `traceparent`
//! extension). `OTEL_SERVICE_NAME` names the service (default: the binary).

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::LogFormat;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

fn provider() -> Option<SdkTracerProvider> {
    if !otlp_configured() {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("OTLP trace exporter not started: {e}");
            return None;
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "ticketgw".into());
        resource = resource.with_service_name(name);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    Some(provider)
}

/// Installs the global subscriber once; later calls are no-ops (tests
/// build many apps in one process).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let otel = if PROVIDER.get().is_none() {
        provider().map(|p| {
            let tracer = p.tracer("ticketgw");
            let _ = PROVIDER.set(p);
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            tg_store::set_traceparent_source(current_traceparent);
            tracing_opentelemetry::layer().with_tracer(tracer)
        })
    } else {
        None
    };
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    if PROVIDER.get().is_some() {
        tracing::info!("exporting traces over OTLP");
    }
}

/// Flushes and stops the trace exporter (at shutdown).
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
        let _ = p.shutdown();
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` a child of the caller's trace (`traceparent` header).
pub fn adopt_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if PROVIDER.get().is_none() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(cx);
}

/// Makes `span` a child of a `traceparent` value (a CloudEvent's).
pub fn adopt_traceparent(span: &tracing::Span, traceparent: &str) {
    if PROVIDER.get().is_none() {
        return;
    }
    let mut map = HashMap::new();
    map.insert("traceparent".to_owned(), traceparent.to_owned());
    let cx = TraceContextPropagator::new().extract(&map);
    let _ = span.set_parent(cx);
}

/// The current span's W3C `traceparent`, when traces are exported.
pub fn current_traceparent() -> Option<String> {
    PROVIDER.get()?;
    let cx = tracing::Span::current().context();
    let mut map: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut map);
    map.remove("traceparent")
}
