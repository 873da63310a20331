//! Composition root: builds the platform, mounts each enabled domain, serves, shuts down.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::domains;
use crate::platform::budget::MemoryBudget;
use crate::platform::clock::Clock;
use crate::platform::config::Settings;
use crate::platform::db::Db;
use crate::platform::http::drain::{DrainingListener, InFlight};
use crate::platform::http::health::{self, HealthState};
use crate::platform::http::rate_limit::{LimitStore, RateLimit};
use crate::platform::http::{self as platform_http, middleware, API_PREFIX};
use crate::platform::mailer::{self, Mailer};
use crate::platform::metrics::Metrics;
use crate::platform::openapi::ApiDoc;
use crate::platform::queue::Consumer;
use crate::platform::remote::{require_service_key, INTERNAL_PREFIX};
use crate::platform::Task;

pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";

pub use crate::platform::Platform;

/// The OpenAPI document of this build: platform routes and every enabled domain's.
/// Needs no database, so `agora openapi` works anywhere.
pub fn openapi() -> serde_json::Value {
    let mut doc = OpenApiRouter::<HealthState>::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .nest(API_PREFIX, health::api_routes())
        .into_openapi();
    doc.merge(domains::openapi());
    crate::platform::openapi::add_domain_tags(&mut doc, &domains::enabled());
    crate::platform::openapi::complete(doc)
}

/// Connects the database (creating the SQLite file on first run) and applies migrations
/// when `database.migrate_on_start` is set.
pub async fn connect_database(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(settings).await.with_context(|| {
        format!(
            "connecting to {}",
            crate::platform::config::mask_url(&settings.database_url())
        )
    })?;
    if settings.database.migrate_on_start {
        let domains: Vec<_> = domains::enabled().iter().map(|d| d.name).collect();
        db.migrate(&health::migration_owners(&domains))
            .await
            .context("applying migrations")?;
    }
    Ok(db)
}

/// The web console at `/` when the build has it and `console.enabled` is set; otherwise
/// unknown paths are 404.
fn with_console(router: Router, settings: &Settings) -> Router {
    #[cfg(feature = "console")]
    if settings.console.enabled {
        return router.merge(crate::console::routes(&settings.console));
    }
    let _ = settings;
    router.fallback(middleware::not_found)
}

pub struct ApplicationBuilder {
    settings: Settings,
    consumers: Vec<Arc<dyn Consumer>>,
    routes: Option<Router>,
    os_signals: bool,
    clock: Clock,
}

impl ApplicationBuilder {
    /// The clock the domains read (default: the system clock); tests move theirs ahead.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a queue consumer besides the domains' own (embedding, tests).
    pub fn consumer(mut self, consumer: Arc<dyn Consumer>) -> Self {
        self.consumers.push(consumer);
        self
    }

    /// Adds routes at the root, behind the platform middleware (embedding, tests).
    pub fn routes(mut self, routes: Router) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Shut down on SIGTERM/SIGINT as well as on the shutdown token (the binary does).
    pub fn handle_os_signals(mut self, on: bool) -> Self {
        self.os_signals = on;
        self
    }

    pub async fn build(self) -> anyhow::Result<Application> {
        let problems = domains::check_settings(&self.settings);
        if !problems.is_empty() {
            anyhow::bail!("configuration: {}", problems.join("; "));
        }
        let settings = Arc::new(self.settings);
        let db = connect_database(&settings).await?;
        let metrics = Metrics::new();
        let queue = crate::platform::queue::from_settings(
            db.clone(),
            &settings.queue,
            metrics.queue.clone(),
        )?;
        let mailer: Arc<dyn Mailer> =
            Arc::from(mailer::from_settings(&settings.mailer, &settings.data_dir)?);
        let platform = Platform {
            settings: settings.clone(),
            db: db.clone(),
            queue: queue.clone(),
            mailer,
            metrics: metrics.clone(),
            clock: self.clock,
            large_bodies: MemoryBudget::new(
                settings
                    .server
                    .large_body_memory_mib
                    .saturating_mul(1 << 20),
            ),
            limit_store: LimitStore::from_settings(&settings.server.limit_store, &metrics.registry)
                .await?,
            stopping: CancellationToken::new(),
        };

        let mounted = domains::mount(&platform)?;
        let tasks = mounted.tasks;
        let mut consumers = mounted.consumers;
        consumers.extend(self.consumers);
        queue
            .subscribe(&consumers)
            .await
            .context("registering queue subscriptions")?;

        let draining = CancellationToken::new();
        let in_flight = Arc::new(InFlight::default());
        let health_state = HealthState {
            db,
            queue,
            metrics: metrics.clone(),
            domains: domains::enabled().iter().map(|d| d.name).collect(),
            draining: draining.clone(),
        };
        let (mut router, _) = OpenApiRouter::new()
            .merge(health::routes().with_state(health_state.clone()))
            .merge(mounted.root)
            .nest(
                API_PREFIX,
                health::api_routes()
                    .with_state(health_state)
                    .merge(mounted.api),
            )
            .split_for_parts();
        if let Some(extra) = self.routes {
            router = router.merge(extra);
        }
        // Served only when the deployment has a service key; unknown callers get 403.
        if let Some(key) = settings.server.service_key.as_ref().map(|k| k.expose()) {
            let key: Arc<str> = Arc::from(key);
            router = router.nest(
                INTERNAL_PREFIX,
                mounted.internal.layer(axum::middleware::from_fn_with_state(
                    key,
                    require_service_key,
                )),
            );
        }
        router = if settings.openapi.swagger_ui {
            router.merge(
                SwaggerUi::new("/swagger-ui").external_url_unchecked(OPENAPI_PATH, openapi()),
            )
        } else {
            let doc = openapi();
            router.route(
                OPENAPI_PATH,
                axum::routing::get(move || async move { axum::Json(doc) }),
            )
        };
        let router = with_console(router, &settings);

        let limiter = settings.server.rate_limit.enabled.then(|| {
            let rl = &settings.server.rate_limit;
            RateLimit::new(&platform.limit_store, "api", rl.per_second, rl.burst)
        });
        let router = platform_http::apply_layers(
            router,
            &settings,
            metrics,
            limiter,
            draining.clone(),
            in_flight.clone(),
        );

        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr} (server.host, server.port)"))?;

        Ok(Application {
            platform,
            listener,
            router,
            consumers,
            tasks,
            shutdown: CancellationToken::new(),
            draining,
            in_flight,
            os_signals: self.os_signals,
        })
    }
}

pub struct Application {
    platform: Platform,
    listener: TcpListener,
    router: Router,
    consumers: Vec<Arc<dyn Consumer>>,
    tasks: Vec<Task>,
    shutdown: CancellationToken,
    /// Cancelled when shutdown begins; the listener closes `server.drain_secs` later.
    draining: CancellationToken,
    /// Requests being handled, for shutdown to wait on.
    in_flight: Arc<InFlight>,
    os_signals: bool,
}

impl Application {
    pub fn builder(settings: Settings) -> ApplicationBuilder {
        ApplicationBuilder {
            settings,
            consumers: Vec::new(),
            routes: None,
            os_signals: false,
            clock: Clock::system(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Cancelling it shuts the application down gracefully, as SIGTERM does.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until shutdown: then drains for `server.drain_secs` (not ready, still serving),
    /// stops accepting, lets in-flight requests and running jobs finish within
    /// `server.shutdown_grace_secs`, and closes the database.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let grace = Duration::from_secs(self.platform.settings.server.shutdown_grace_secs);
        if self.os_signals {
            tokio::spawn(signal_listener(shutdown.clone())?);
        }

        let addr = self.local_addr();
        let workers_stop = CancellationToken::new();
        let db = self.platform.db.clone();
        let relay_stop = workers_stop.clone();
        tokio::spawn(async move { db.relay_signals(relay_stop).await });
        for task in self.tasks {
            tokio::spawn(task(workers_stop.clone()));
        }
        let workers = self
            .platform
            .queue
            .start(self.consumers, workers_stop.clone())
            .await
            .context("starting queue workers")?;

        tracing::info!(
            %addr,
            database = self.platform.db.backend().as_str(),
            domains = ?domains::enabled().iter().map(|d| d.name).collect::<Vec<_>>(),
            "listening"
        );
        let drain = Duration::from_secs(self.platform.settings.server.drain_secs);
        let stop_accepting = self.platform.stopping.clone();
        tokio::spawn(drain_then_stop(
            shutdown.clone(),
            self.draining.clone(),
            drain,
            stop_accepting.clone(),
        ));
        // Once the drain ends the listener closes; connections already accepted are still
        // served, and the server stops when no request has run for a moment (see
        // platform::http::drain), or when the grace is over.
        let listener = DrainingListener::new(self.listener, stop_accepting.clone()).tap_io(|_| {});
        let server = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        );
        let in_flight = self.in_flight.clone();
        let finished = async {
            stop_accepting.cancelled().await;
            tracing::info!(grace_secs = grace.as_secs(), "shutting down");
            in_flight.quiet_for(QUIET).await;
        };
        let deadline = async {
            stop_accepting.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            served = server.into_future() => served.context("serving HTTP")?,
            _ = finished => {}
            _ = deadline => tracing::warn!("grace period over with requests still running"),
        }

        workers_stop.cancel();
        if tokio::time::timeout(grace, workers).await.is_err() {
            tracing::warn!(
                "grace period over with jobs still running; they will be delivered again"
            );
        }
        self.platform.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// After the listener closed, how long no request may have run before the server stops: a
/// request already on its way over an accepted connection arrives well within it.
const QUIET: Duration = Duration::from_millis(250);

/// Once shutdown is asked for: not ready at once, then after `drain` no longer accepting.
async fn drain_then_stop(
    shutdown: CancellationToken,
    draining: CancellationToken,
    drain: Duration,
    stop_accepting: CancellationToken,
) {
    shutdown.cancelled().await;
    draining.cancel();
    if !drain.is_zero() {
        tracing::info!(
            drain_secs = drain.as_secs(),
            "draining: not ready, still serving"
        );
        tokio::time::sleep(drain).await;
    }
    stop_accepting.cancel();
}

/// Registers the handlers now, so a signal that arrives right after start-up is not lost.
#[cfg(unix)]
fn signal_listener(
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = shutdown.cancelled() => return,
        }
        shutdown.cancel();
    })
}

#[cfg(not(unix))]
fn signal_listener(
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
            _ = shutdown.cancelled() => return,
        }
        shutdown.cancel();
    })
}
