//! Entry point of the `outbox-relay` worker: the relay loop plus the
//! platform's health and metrics routes on `$PORT`. SIGTERM stops both; a
//! batch in flight is either confirmed and marked, or left to its lease.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match tg_platform::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("outbox-relay: {e}");
            return ExitCode::from(2);
        }
    };
    tg_platform::telemetry::init(config.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outbox-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = rt.block_on(async move {
        let state = tg_platform::build_state(config.clone()).await?;
        let relay = outbox_relay::relay_from_env(&state)?;
        let app = tg_platform::with_platform(
            outbox_relay::router(state.clone()),
            &state,
            outbox_relay::openapi(),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(outbox_relay::run(relay, state.clone(), async move {
            let _ = rx.await;
        }));
        let served = tg_platform::serve(app, &config).await;
        let _ = tx.send(());
        let _ = worker.await;
        served
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "outbox-relay stopped with an error"
            );
            ExitCode::FAILURE
        }
    }
}
