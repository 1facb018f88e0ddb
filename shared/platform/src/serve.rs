//! Serving: Knative (a TCP listener on `$PORT`, graceful shutdown on
//! SIGTERM) or AWS Lambda (`lambda_http`) when `AWS_LAMBDA_RUNTIME_API` is
//! set.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;

use crate::{Config, FunctionSpec, build_state, telemetry, with_platform};

/// Entry point of every function binary.
pub fn run_function(spec: FunctionSpec) -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", spec.name);
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let state = build_state(config.clone()).await?;
        let app = with_platform((spec.router)(state.clone()), &state, (spec.openapi)());
        tracing::info!(
            function = spec.name,
            backend = state.store.backend(),
            "starting"
        );
        serve(app, &config).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(
                function = spec.name,
                error = format!("{e:#}"),
                "stopped with an error"
            );
            ExitCode::FAILURE
        }
    }
}

/// Serves `app` until SIGTERM/SIGINT (in-flight requests finish first), or
/// hands it to the Lambda runtime.
pub async fn serve(app: Router, config: &Config) -> anyhow::Result<()> {
    start_metrics();
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        tracing::info!("serving through the AWS Lambda runtime");
        return lambda_http::run(app)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    }
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("shut down");
    crate::telemetry::shutdown();
    Ok(())
}

/// Installs the process-wide Prometheus recorder (idempotent).
pub fn install_metrics() {
    let _ = crate::metrics_layer::handle();
}

/// Installs the Prometheus recorder off the start-up path (its clock
/// calibration can take milliseconds; a cold start should not wait for it)
/// and drains histogram samples every 10 s, so memory stays flat even when
/// nothing scrapes `/metrics`.
fn start_metrics() {
    tokio::task::spawn_blocking(install_metrics);
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tick.tick().await;
            crate::metrics_layer::handle().run_upkeep();
        }
    });
}

/// Resolves on SIGTERM (Knative, Kubernetes) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
