//! Logging set-up: one subscriber, text or JSON, with a filter from `HERALD_LOG`; plus, only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, an OpenTelemetry layer that exports Herald's spans over OTLP/HTTP.
//!
//! `sqlx` is held at `warn` unless the filter names it: at `info` it logs every statement, which drowns everything
//! else at ingest rates.
//!
//! The two layers filter on their own: `HERALD_LOG` decides what is logged, and the trace export always takes
//! Herald's spans at `info` and above (one per request, ingest batch and repository call), so turning logs down
//! to `warn` does not empty the traces.

use std::time::{Duration, Instant};

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing::subscriber::set_global_default;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt};

use crate::config::LogFormat;

/// The service name traces are exported under.
pub const SERVICE_NAME: &str = "herald";

/// Builds the subscriber without installing it, so tests can send output to `std::io::sink`.
pub fn get_subscriber<Sink>(
    filter: &str,
    format: LogFormat,
    sink: Sink,
) -> Box<dyn Subscriber + Send + Sync>
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    get_subscriber_with_otlp(filter, format, sink, None)
}

/// [`get_subscriber`], with an OpenTelemetry layer exporting through `otlp` when given.
pub fn get_subscriber_with_otlp<Sink>(
    filter: &str,
    format: LogFormat,
    sink: Sink,
    otlp: Option<&OtlpTracing>,
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
    let traces = otlp.map(|o| {
        tracing_opentelemetry::layer()
            .with_tracer(o.provider.tracer(SERVICE_NAME))
            .with_filter(Targets::new().with_target("herald", tracing::Level::INFO))
    });
    let registry = tracing_subscriber::registry().with(traces);
    match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            Box::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(ansi)
                        .with_writer(sink)
                        .with_filter(env_filter),
                ),
            )
        }
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(sink)
                    .with_filter(env_filter),
            ),
        ),
    }
}

/// The OTLP/HTTP trace exporter (protobuf over a blocking reqwest client, run by the SDK's batch processor on a
/// thread of its own, so it needs no async runtime and never shares one with Herald's work). Spans are sent in
/// batches every few seconds; [`OtlpTracing::shutdown`] sends what is left.
pub struct OtlpTracing {
    provider: SdkTracerProvider,
}

impl OtlpTracing {
    /// An exporter to `<endpoint>/v1/traces` (the OTLP/HTTP path, as the OpenTelemetry convention for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` has it). Call it outside an async runtime: it builds a blocking HTTP client.
    ///
    /// # Errors
    /// When the exporter cannot be built (an invalid endpoint).
    pub fn new(endpoint: &str) -> anyhow::Result<OtlpTracing> {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .build()
            .context("Failed to build the OTLP exporter (OTEL_EXPORTER_OTLP_ENDPOINT).")?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(SERVICE_NAME)
                    .build(),
            )
            .build();
        Ok(OtlpTracing { provider })
    }

    /// Exports every span still buffered and stops the exporter (at process exit).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("herald: could not flush traces to the OTLP endpoint: {e}");
        }
    }
}

/// Installs the subscriber as the process-wide default; a second call is a no-op.
pub fn init_subscriber(subscriber: Box<dyn Subscriber + Send + Sync>) {
    let _ = set_global_default(subscriber);
}

/// The shortest and longest interval between two logs of a recurring error ([`RateLimitedLog`]).
const LOG_INTERVAL_MIN: Duration = Duration::from_secs(1);
const LOG_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// Logs a recurring error once, then at a doubling interval (up to a minute) while it keeps happening, reporting
/// how many occurrences were not logged; a success resets it.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    next: Option<Instant>,
    interval: Duration,
    suppressed: u64,
}

impl RateLimitedLog {
    /// Whether to log now; if so, how many occurrences since the last log were not logged.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        match self.next {
            Some(next) if now < next => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.interval = if self.next.is_none() {
                    LOG_INTERVAL_MIN
                } else {
                    (self.interval * 2).min(LOG_INTERVAL_MAX)
                };
                self.next = Some(now + self.interval);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// The error stopped: the next one is logged at once.
    pub fn reset(&mut self) {
        self.next = None;
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurring_errors_are_logged_at_a_growing_interval() {
        let mut log = RateLimitedLog::default();
        let t0 = Instant::now();
        assert_eq!(log.due(t0), Some(0));
        assert_eq!(log.due(t0 + Duration::from_millis(500)), None);
        assert_eq!(log.due(t0 + Duration::from_millis(900)), None);
        assert_eq!(log.due(t0 + Duration::from_millis(1_100)), Some(2));
        // The interval doubled: 2 s after the second log.
        assert_eq!(log.due(t0 + Duration::from_millis(2_500)), None);
        assert_eq!(log.due(t0 + Duration::from_millis(3_200)), Some(1));
        log.reset();
        assert_eq!(log.due(t0 + Duration::from_millis(3_300)), Some(0));
    }
}
