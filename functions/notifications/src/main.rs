//! Knative / Lambda entry point of the `notifications` function. With
//! `TICKETGW_LAMBDA_TRIGGER=sqs` under the Lambda runtime it consumes
//! Lambda's SQS event (partial batch failures reported back); otherwise it
//! serves its HTTP routes (Knative, or Lambda behind an HTTP API).

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let platform = match tg_platform::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("notifications: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = notifications::NotifyConfig::from_env(&platform) {
        eprintln!("notifications: {e:#}");
        return ExitCode::from(2);
    }
    let sqs = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        && std::env::var("TICKETGW_LAMBDA_TRIGGER").is_ok_and(|v| v == "sqs");
    if !sqs {
        return tg_platform::run_function(notifications::FUNCTION);
    }
    tg_platform::telemetry::init(platform.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifications: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = rt.block_on(async move {
        let state = tg_platform::build_state(platform.clone()).await?;
        let config = notifications::NotifyConfig::from_env(&platform)?;
        let sink = Arc::new(notifications::NotifierSink(Arc::new(
            notifications::Notifier::new(state.store.clone(), config)?,
        )));
        lambda_runtime::run(lambda_runtime::service_fn(
            move |ev: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
                let sink = sink.clone();
                async move {
                    Ok::<_, lambda_runtime::Error>(
                        tg_events::sqs::handle_batch(ev.payload, sink.as_ref()).await,
                    )
                }
            },
        ))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
