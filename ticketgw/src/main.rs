//! `ticketgw`: the whole Ticket Gateway platform in one process, for a
//! laptop, a demo or a single small server. Every function's router is
//! mounted on one listener (127.0.0.1:8080 by default), on the embedded
//! SQLite database unless `DATABASE_URL` names PostgreSQL.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tg_platform::{Config, LogFormat, build_state, serve, telemetry};

#[derive(Parser)]
#[command(
    name = "ticketgw",
    version,
    about = "Ticket Gateway: the whole platform in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the platform (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the platform's OpenAPI 3.1 document (as served at `/openapi.json`) and exit.
    Openapi,
    /// Manage accounts of the built-in identity provider.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account (or promote the account with this email) and exit.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Openapi)) {
        // Needs no configuration, database or runtime: the web app's type
        // generation and its drift check in CI run this.
        return match ticketgw::openapi().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ticketgw: cannot render the OpenAPI document: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match ticketgw::local_config(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ticketgw: {e}");
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
            eprintln!("ticketgw: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => run(config).await,
            Command::Migrate => migrate(config).await,
            Command::Openapi => unreachable!("handled before configuration is read"),
            Command::Admin {
                command: AdminCommand::Create { email, password },
            } => admin_create(config, &email, &password).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ticketgw failed");
            if config_is_pretty() {
                eprintln!("ticketgw: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn config_is_pretty() -> bool {
    std::env::var("TICKETGW_LOG_FORMAT")
        .map(|v| v != "json")
        .unwrap_or(true)
}

async fn migrate(mut config: Config) -> anyhow::Result<()> {
    config.migrate_on_start = true;
    let state = build_state(config).await?;
    tracing::info!(backend = state.store.backend(), "migrations applied");
    Ok(())
}

async fn admin_create(mut config: Config, email: &str, password: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        (12..=128).contains(&password.chars().count()),
        "the password must be 12 to 128 characters"
    );
    config.migrate_on_start = true;
    let state = build_state(config).await?;
    let id = tg_platform::ensure_admin(&state.store, email, password).await?;
    println!("admin {email} ready (user id {id})");
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    let demo = tg_platform::config::parse_bool(std::env::var("TICKETGW_DEMO").ok(), true)
        .map_err(|m| anyhow::anyhow!("TICKETGW_DEMO: {m}"))?;
    let state = build_state(config.clone()).await?;
    if demo {
        ticketgw::demo::load(state.store.as_ref()).await?;
    }
    let app = ticketgw::app(&state);
    // The expiry worker: a timer here, a Knative PingSource in a cluster.
    tokio::spawn(booking_expiry::run_timer(
        state.store.clone(),
        std::time::Duration::from_secs(u64::from(config.expiry_interval_secs)),
    ));
    // The events pipeline: outbox relay and notifications.
    ticketgw::start_events(&state)?;
    // Reconciliation with the payment provider, likewise.
    tokio::spawn(payments_reconcile::run_timer(
        state.clone(),
        std::time::Duration::from_secs(60),
    ));
    if config.log_format == LogFormat::Pretty {
        eprintln!(
            "Ticket Gateway on http://{}:{}  (database: {}; demo logins: organizer@demo.test / demo-organizer-pass, buyer@demo.test / demo-buyer-pass)",
            config.bind,
            config.port,
            state.store.backend(),
        );
    }
    serve(app, &config).await
}
