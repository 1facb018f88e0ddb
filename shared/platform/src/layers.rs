//! Operational routes and the layers every function gets.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use tg_http::ApiError;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::{AppState, idempotency, metrics_layer};

/// Largest accepted request body.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a function's (or the local platform's merged) domain routes with
/// the operational routes and the common layers.
pub fn with_platform(
    routes: Router,
    state: &AppState,
    mut openapi: utoipa::openapi::OpenApi,
) -> Router {
    crate::openapi::standardize(&mut openapi);
    let secured = std::sync::Arc::new(crate::openapi::secured_operations(&openapi));
    let openapi_json = openapi.to_json().unwrap_or_else(|_| "{}".into());
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(move || {
                let body = openapi_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .with_state(state.clone());

    // Only requests that matched a route and method reach the idempotency
    // middleware: an unknown route or method gets its 404/405 whatever its
    // `Idempotency-Key`. (A router without routes, e.g. a worker's, has
    // nothing to guard.)
    let routes = if routes.has_routes() {
        routes.route_layer(middleware::from_fn_with_state(
            idempotency::Guard {
                state: state.clone(),
                secured,
            },
            idempotency::idempotency,
        ))
    } else {
        routes
    };
    routes
        .merge(ops)
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        // Idempotency keys (above) run inside the body limit, so the bodies
        // they buffer are bounded, and inside metrics, so replays count.
        .layer(middleware::from_fn(metrics_layer::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            let request_id = req
                                .headers()
                                .get(REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("");
                            let span = tracing::info_span!(
                                "request",
                                method = %req.method(),
                                path = %req.uri().path(),
                                request_id = %request_id,
                            );
                            crate::telemetry::adopt_parent(&span, req.headers());
                            span
                        })
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
                })),
        )
}

async fn healthz() -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => axum::Json(serde_json::json!({
            "status": "ready",
            "database": state.store.backend(),
        }))
        .into_response(),
        Ok(Err(e)) => ApiError::unavailable(e).into_response(),
        Err(_) => ApiError::unavailable(anyhow::anyhow!("database ping timed out")).into_response(),
    }
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_layer::handle().render(),
    )
        .into_response()
}
