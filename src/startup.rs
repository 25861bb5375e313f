//! `Application`: builds storage, the queue, the actors and the HTTP server from [`Settings`], and runs them until
//! a shutdown signal, draining in order (SPEC §3 "Shutdown").

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::Addr;
use actix_web::{App, HttpServer, dev::Server, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::actors::{
    CloseSessions, Deliverer, DrainReplays, DrainSources, IngressRouter, RelaySettings, ReplayDeps,
    ReplayRunner, SourceDirectory, SourcesLink, StopRelay, TriggerDeps, TriggerDirectory,
    WorkflowSink, WsHub, WsHubLink,
};
use crate::auth::{AccessPolicy, TokenRegistry};
use crate::config::{EventsMode, Settings};
use crate::http::{AppState, configure};
use crate::metrics::Metrics;
use crate::publisher::{EventPublisher, InlineHandle};
use crate::queue::{InlineQueue, Queue, RedisStreams, StreamSettings};
use crate::redis::{InstanceId, RedisWindow};
use crate::schema_registry::SchemaRegistry;
use crate::storage::Storage;

/// How long shutdown waits for in-flight work before it stops anyway (SPEC §3: within 30 s).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const INLINE_LEASE: &str = "inline-ingress";
const LEASE_TTL: Duration = Duration::from_secs(30);
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// A built, not yet running Herald.
pub struct Application {
    port: u16,
    server: Server,
    router: Addr<IngressRouter>,
    /// The router's own thread, stopped once ingest has drained.
    router_arbiter: actix_rt::Arbiter,
    ws_hub: Addr<WsHub>,
    sources: Addr<SourceDirectory>,
    triggers: Addr<TriggerDirectory>,
    replays: Addr<ReplayRunner>,
    shutdown: watch::Sender<bool>,
    consumers: JoinHandle<()>,
    /// Polls `event_schemas` so a schema registered on another instance holds here within 1 s; ends at shutdown.
    schema_refresher: JoinHandle<()>,
    ready: Arc<AtomicBool>,
    lease: Option<InlineLease>,
    metrics: Metrics,
    /// In-process publishing into `queue` (SPEC §2.3).
    publisher: EventPublisher,
}

/// Lets code outside the application (signal handlers, benchmarks, tests) begin a graceful shutdown.
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Begins a graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl Application {
    /// Builds Herald with the tokens file named in `settings`.
    ///
    /// # Errors
    /// When the tokens file is invalid, anonymous access would reach beyond loopback, or a dependency fails.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let registry = match &settings.tokens_file {
            Some(path) => TokenRegistry::load(path)?,
            None => TokenRegistry::default(),
        };
        let access = AccessPolicy::decide(registry, settings.listen)?;
        Application::build_with_access(settings, access).await
    }

    /// Builds Herald with an explicit access policy.
    ///
    /// # Errors
    /// When the database, Redis or the listen address cannot be used, or another instance holds the inline lease.
    pub async fn build_with_access(
        settings: Settings,
        access: AccessPolicy,
    ) -> anyhow::Result<Application> {
        if matches!(access, AccessPolicy::Anonymous) {
            tracing::warn!(
                listen = %settings.listen,
                "No tokens configured: every local caller is the anonymous admin. Set HERALD_TOKENS_FILE to require tokens."
            );
        }
        let storage = Storage::connect(settings.database_url.expose_secret())
            .await
            .context("Failed to connect to the database (DATABASE_URL).")?;
        storage
            .migrate()
            .await
            .context("Failed to run database migrations.")?;

        // One id for this instance wherever it names itself: consumer name, relay tag, lease holder.
        let instance = InstanceId::generate();
        let lease = match settings.events_mode {
            EventsMode::Inline => Some(InlineLease::acquire(&storage, &instance).await?),
            EventsMode::Redis => None,
        };
        let queue = match (&settings.events_mode, &settings.redis_url) {
            (EventsMode::Redis, Some(url)) => Queue::Redis(
                RedisStreams::connect(
                    StreamSettings {
                        redis_url: url.clone(),
                        stream: settings.event_stream.clone(),
                        group: settings.consumer_group.clone(),
                        claim_idle_ms: settings.claim_idle_ms,
                        maxlen: settings.stream_maxlen,
                        concurrency: settings.ingress_concurrency,
                        instance: instance.clone(),
                    },
                    storage.clone(),
                )
                .await
                .context("Failed to connect to Redis (REDIS_URL).")?,
            ),
            _ => Queue::Inline(InlineQueue::new(settings.ingress_concurrency)),
        };

        let schemas = SchemaRegistry::load(storage.clone(), settings.require_schemas)
            .await
            .context("Failed to read the event schemas.")?;
        let metrics = Metrics::new(&settings.event_source_rate_limits);
        let router_storage = storage.clone();
        let max_payload_bytes = settings.max_payload_bytes;
        let router_metrics = metrics.clone();
        let (router, router_arbiter) = IngressRouter::launch(
            IngressRouter::new(router_storage, max_payload_bytes)
                .with_metrics(router_metrics)
                .with_schemas(schemas.catalog().clone()),
        );
        let relay = match (&settings.events_mode, &settings.redis_url) {
            (EventsMode::Redis, Some(url)) => Some(RelaySettings {
                redis_url: url.clone(),
                channel: RelaySettings::channel_for(&settings.event_stream),
                instance: instance.clone(),
            }),
            _ => None,
        };
        let ws_hub = WsHub::launch(
            WsHub::new().with_metrics(metrics.clone()),
            router.clone().recipient(),
            relay,
        )
        .await?;
        let shared_window = match &queue {
            Queue::Redis(streams) => {
                Some(RedisWindow::new(streams.commands(), &settings.event_stream))
            }
            Queue::Inline(_) => None,
        };
        let deliverer = Deliverer {
            webhook: crate::webhook::WebhookClient::new(
                settings.triggers.webhook_addresses.clone(),
            )
            .context("Failed to start the webhook client.")?,
            workflows: match &queue {
                Queue::Redis(streams) => WorkflowSink::Redis(streams.commands()),
                Queue::Inline(_) => WorkflowSink::Inline(Some(ws_hub.clone().recipient())),
            },
        };
        let triggers = TriggerDirectory::launch(
            storage.clone(),
            settings.triggers.definition_rules.clone(),
            TriggerDeps {
                storage: storage.clone(),
                clock: crate::actors::WallClock::system(),
                deliverer: Arc::new(deliverer),
                notices: Some(ws_hub.clone().recipient()),
                pause: settings.triggers.pause,
            },
            &instance,
            matches!(settings.events_mode, EventsMode::Redis),
        )
        .await
        .context("Failed to load the triggers.")?;
        router
            .send(crate::actors::SubscribeStored {
                recipient: triggers.clone().recipient(),
            })
            .await
            .context("The ingress router stopped before start-up finished.")?;
        let replays = {
            let deps = ReplayDeps {
                storage: storage.clone(),
                rules: settings.triggers.definition_rules.clone(),
                wake: Some(triggers.clone().recipient()),
                query_timeout: std::time::Duration::from_millis(settings.query_timeout_ms),
            };
            let instance = instance.clone();
            actix::Supervisor::start(move |_| ReplayRunner::new(deps, &instance))
        };
        let rate_limits = Arc::new(settings.event_source_rate_limits.clone());
        let sources = SourceDirectory::launch(
            SourceDirectory::new(
                storage.clone(),
                rate_limits.clone(),
                shared_window,
                Some(triggers.clone().recipient()),
            )
            .with_metrics(metrics.clone())
            .with_notices(ws_hub.clone().recipient()),
            router.clone().recipient(),
        )
        .await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let schema_refresher = schemas.spawn_refresher(shutdown_rx.clone());
        let consumers = queue.start(router.clone().recipient(), shutdown_rx);

        let ready = Arc::new(AtomicBool::new(true));
        let publisher =
            EventPublisher::inline(InlineHandle::new(queue.clone(), schemas.catalog().clone()))
                .with_max_payload_bytes(settings.max_payload_bytes);
        let state = web::Data::new(AppState {
            storage,
            queue,
            access,
            mode: settings.events_mode,
            max_payload_bytes: settings.max_payload_bytes,
            max_body_bytes: settings.max_body_bytes,
            query_timeout: std::time::Duration::from_millis(settings.query_timeout_ms),
            ready: ready.clone(),
            ids: std::sync::Mutex::new(ulid::Generator::new()),
            ws_hub: WsHubLink::to(&ws_hub),
            sources: SourcesLink::to(&sources, rate_limits),
            triggers: crate::http::TriggersLink {
                directory: triggers.clone(),
                rules: settings.triggers.definition_rules.clone(),
                pause: settings.triggers.pause,
                replays: replays.clone(),
            },
            metrics: metrics.clone(),
            schemas,
        });
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("Failed to bind HERALD_LISTEN={}.", settings.listen))?;
        let port = listener.local_addr()?.port();
        let server =
            HttpServer::new(move || App::new().app_data(state.clone()).configure(configure))
                .disable_signals()
                // WebSocket frames are small writes: without TCP_NODELAY, Nagle holds one back until the previous
                // is acknowledged, and the client's delayed ACK turns that into ~40 ms.
                .tcp_nodelay(true)
                .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
                .listen(listener)?
                .run();
        tracing::info!(
            listen = %settings.listen, port, mode = %settings.events_mode,
            "Herald is listening."
        );
        Ok(Application {
            port,
            server,
            router,
            router_arbiter,
            ws_hub,
            sources,
            triggers,
            replays,
            shutdown,
            consumers,
            schema_refresher,
            ready,
            lease,
            metrics,
            publisher,
        })
    }

    /// The port the HTTP server is bound to (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The ingress router, for in-process subscribers such as benchmarks.
    pub fn router(&self) -> Addr<IngressRouter> {
        self.router.clone()
    }

    /// This instance's metrics (its own registry, scraped at `/metrics/prometheus`); the WebSocket hub reports
    /// its session count through [`Metrics::set_websocket_sessions`].
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// A publisher into this server's own queue (SPEC §2.3 `inline`): for code running in the Herald process.
    pub fn publisher(&self) -> EventPublisher {
        self.publisher.clone()
    }

    /// A handle that begins a graceful shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until SIGTERM, SIGINT or a [`ShutdownHandle`], then drains: `/readyz` turns 503, WebSocket sessions
    /// close with 1001, the HTTP server finishes its requests, reading stops, in-flight batches finish and are
    /// acknowledged, the live relay stops, the lease is released.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            server,
            router_arbiter,
            ws_hub,
            sources,
            triggers,
            replays,
            shutdown,
            consumers,
            schema_refresher,
            ready,
            lease,
            ..
        } = self;
        let handle = server.handle();
        let mut stop = shutdown.subscribe();
        let signals = actix_rt::spawn(async move {
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            tracing::info!("Shutting down: no longer ready; draining.");
            ready.store(false, Ordering::SeqCst);
            // WebSocket sessions close first (1001, going away): they are connections the HTTP server would
            // otherwise wait on until its timeout. Then HTTP finishes its requests (an inline publish needs the
            // batcher for its commit), then the consumers stop reading and finish the batches they hold, and
            // last the live relay stops, after relaying those final batches to the other instances.
            let drained = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
                let _ = ws_hub.send(CloseSessions).await;
                handle.stop(true).await;
                let _ = shutdown.send(true);
                let _ = consumers.await;
                // Every stored batch has reached the source limiters; make their deferrals durable.
                let _ = sources.send(DrainSources).await;
                // Replay steps stop first: what they recorded stays, and the next lease holder resumes them.
                let _ = replays.send(DrainReplays).await;
                let _ = triggers.send(crate::actors::DrainTriggers).await;
                let _ = ws_hub.send(StopRelay).await;
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    "Shutdown timed out; unfinished stream entries stay pending and will be reclaimed."
                );
            }
        });
        let lease_renewal = lease.as_ref().map(|l| l.keep_renewed());
        server.await.context("HTTP server failed.")?;
        let _ = signals.await;
        router_arbiter.stop();
        // The shutdown signal has been sent (or the server failed): the refresher has ended or ends now.
        schema_refresher.abort();
        if let Some(task) = lease_renewal {
            task.abort();
        }
        if let Some(lease) = lease {
            lease.release().await;
        }
        tracing::info!("Herald stopped.");
        Ok(())
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => futures::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The inline-mode lease: one Herald per database when queues live in-process (SPEC §2.4).
struct InlineLease {
    storage: Storage,
    holder: String,
}

impl InlineLease {
    async fn acquire(storage: &Storage, instance: &InstanceId) -> anyhow::Result<InlineLease> {
        let holder = instance.to_string();
        let ttl = chrono::Duration::from_std(LEASE_TTL)?;
        // A holder on this host whose process is gone died without releasing the lease, so a restart after a
        // crash need not wait for it to lapse.
        storage
            .leases()
            .acquire(INLINE_LEASE, &holder, ttl, InstanceId::is_dead_process_here)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}. Another Herald instance runs in inline mode on this database; inline mode allows one \
                     instance per database. Stop it, or run several instances in redis mode (set REDIS_URL)."
                )
            })?;
        Ok(InlineLease {
            storage: storage.clone(),
            holder,
        })
    }

    fn keep_renewed(&self) -> JoinHandle<()> {
        let storage = self.storage.clone();
        let holder = self.holder.clone();
        actix_rt::spawn(async move {
            let ttl =
                chrono::Duration::from_std(LEASE_TTL).unwrap_or(chrono::Duration::seconds(30));
            loop {
                tokio::time::sleep(LEASE_RENEW_INTERVAL).await;
                if let Err(e) = storage.leases().renew(INLINE_LEASE, &holder, ttl).await {
                    tracing::error!(error.message = %e, "Could not renew the inline lease; another instance may take it.");
                }
            }
        })
    }

    async fn release(self) {
        if let Err(e) = self
            .storage
            .leases()
            .release(INLINE_LEASE, &self.holder)
            .await
        {
            tracing::warn!(error.message = %e, "Could not release the inline lease; it lapses by itself.");
        }
    }
}
