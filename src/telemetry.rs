//! Logging set-up: one subscriber, text or JSON, with a filter from `HERALD_LOG`.
//!
//! `sqlx` is held at `warn` unless the filter names it: at `info` it logs every statement, which drowns everything
//! else at ingest rates.

use tracing::Subscriber;
use tracing::subscriber::set_global_default;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt};

use crate::config::LogFormat;

/// Builds the subscriber without installing it, so tests can send output to `std::io::sink`.
pub fn get_subscriber<Sink>(
    filter: &str,
    format: LogFormat,
    sink: Sink,
) -> Box<dyn Subscriber + Send + Sync>
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let directives = if filter.contains("sqlx") {
        filter.to_owned()
    } else {
        format!("{filter},sqlx=warn")
    };
    // The filter was validated when the settings were loaded; fall back to `info` rather than panic.
    let env_filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(env_filter);
    match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            Box::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(ansi)
                        .with_writer(sink),
                ),
            )
        }
        LogFormat::Json => {
            Box::new(registry.with(tracing_subscriber::fmt::layer().json().with_writer(sink)))
        }
    }
}

/// Installs the subscriber as the process-wide default; a second call is a no-op.
pub fn init_subscriber(subscriber: Box<dyn Subscriber + Send + Sync>) {
    let _ = set_global_default(subscriber);
}
