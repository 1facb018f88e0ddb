//! `event-dispatcher`: what a Knative Trigger does, for a plain VM or the
//! local platform with RabbitMQ. Settings: `TICKETGW_AMQP_URL`,
//! `TICKETGW_DISPATCH_TARGET` (e.g. `http://127.0.0.1:8081/events`),
//! `TICKETGW_DISPATCH_DEADLETTER_URL`, `TICKETGW_DISPATCH_QUEUE`,
//! `TICKETGW_DISPATCH_BINDINGS`, `TICKETGW_DISPATCH_PREFETCH`,
//! `TICKETGW_DISPATCH_MAX_ATTEMPTS` (see `tg_events::dispatch`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let format = tg_platform::Config::from_env()
        .map(|c| c.log_format)
        .unwrap_or(tg_platform::LogFormat::Json);
    tg_platform::telemetry::init(format);
    let config = match tg_events::dispatch::DispatchConfig::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("event-dispatcher: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("event-dispatcher: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (sink, dls) = match tg_events::dispatch::http_sinks(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("event-dispatcher: {e:#}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        tg_platform::install_metrics();
        tg_events::dispatch::run(config, sink, dls, tg_platform::shutdown_signal()).await;
    });
    ExitCode::SUCCESS
}
