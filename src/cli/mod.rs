//! The `herald` command line (SPEC §12).

mod bench;
mod client;
mod dead_letters;
mod events;
mod outbox;
mod publish;
mod replay;
mod token;
mod triggers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::Application;
use crate::storage::Storage;
use crate::telemetry::{get_subscriber_with_otlp, init_subscriber};

/// Herald: an event bus.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about)]
pub struct Cli {
    /// A TOML file with the same keys as the environment variables, in lowercase without the `HERALD_` prefix.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run migrations, then serve the API and read the ingress queue.
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Publish one event, or every line of an NDJSON file, to a running Herald.
    Publish(publish::PublishArgs),
    /// Measure Herald (prints one JSON line; see SPEC §14).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Read stored events from a running Herald: `list` (filtered, newest first) and `get`.
    Events {
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// Manage the triggers of a running Herald: `list`, `create`, `pause`, `resume`.
    Triggers {
        #[command(subcommand)]
        command: triggers::TriggersCommand,
    },
    /// Inspect, redrive and delete the dead letters of a running Herald: `list`, `get`, `redrive`, `delete`.
    DeadLetters {
        #[command(subcommand)]
        command: dead_letters::DeadLettersCommand,
    },
    /// Replay stored events to named triggers of a running Herald: `start` (with `--wait`), `status`, `cancel`.
    Replay {
        #[command(subcommand)]
        command: replay::ReplayCommand,
    },
    /// Relay a service's transactional outbox (`herald_client::outbox`) to Herald.
    Outbox {
        #[command(subcommand)]
        command: outbox::OutboxCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

/// Parses the command line and runs the command; the exit code says how it went (2: bad configuration).
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Token { command } => token::run(command),
        Command::Publish(args) => publish::run(args),
        Command::Events { command } => events::run(command),
        Command::Outbox { command } => outbox::run(command),
        Command::Triggers { command } => triggers::run(command),
        Command::DeadLetters { command } => dead_letters::run(command),
        Command::Replay { command } => replay::run(command),
        Command::Serve => with_settings(cli.config, |settings| {
            actix_rt::System::new().block_on(async move {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await
            })
        }),
        Command::Bench { command } => with_settings(cli.config, |settings| {
            actix_rt::System::new().block_on(bench::run(command, settings))
        }),
        Command::Migrate => with_settings(cli.config, |settings| {
            actix_rt::System::new().block_on(async move {
                use secrecy::ExposeSecret;
                let storage = Storage::connect(settings.database_url.expose_secret()).await?;
                storage.migrate().await?;
                tracing::info!("Migrations are up to date.");
                Ok(())
            })
        }),
    }
}

/// Runs `future` on a current-thread runtime, for the commands that only talk to a running Herald over HTTP.
/// A runtime that cannot start is reported on stderr as `herald <command>: …`, with exit code 1.
fn block_on<F: std::future::Future>(command: &str, future: F) -> Result<F::Output, ExitCode> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(e) => {
            eprintln!("herald {command}: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

fn with_settings(
    config: Option<PathBuf>,
    f: impl FnOnce(Settings) -> anyhow::Result<()>,
) -> ExitCode {
    let settings = match Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("herald: {e}");
            return ExitCode::from(2);
        }
    };
    // Traces are exported only when an endpoint is configured (STYLE §7.1).
    let otlp = match settings
        .otel_exporter_otlp_endpoint
        .as_deref()
        .map(crate::telemetry::OtlpTracing::new)
        .transpose()
    {
        Ok(otlp) => otlp,
        Err(e) => {
            eprintln!("herald: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Logs go to stderr so that stdout carries only data (`bench` JSON lines, …).
    init_subscriber(get_subscriber_with_otlp(
        &settings.log,
        settings.log_format,
        std::io::stderr,
        otlp.as_ref(),
    ));
    let code = match f(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "{e:#}");
            eprintln!("herald: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Flush the spans of the last batches before the process exits.
    if let Some(otlp) = otlp {
        otlp.shutdown();
    }
    code
}
