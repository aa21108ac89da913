//! Building and running the HTTP server; shared by `main` and the integration tests.

use crate::backend::Backend;
use crate::background::{self, RecoveryConfig};
use crate::config::Settings;
use crate::http;
use crate::state::AppState;
use crate::supervisor::Supervisor;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use emporium_postgres::FeedWakeup;
use std::net::TcpListener;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

/// A bound, not yet running server, with its background tasks.
pub struct Application {
    port: u16,
    server: Server,
    supervisor: Supervisor,
    drain: Duration,
}

/// What the server needs besides its stores.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Tokens for `/api/admin/*`; the routes are off without any.
    pub admin_tokens: crate::admin_auth::AdminTokens,
    /// Background saga recovery and reservation expiry; off when `None`.
    pub recovery: Option<RecoveryConfig>,
    /// On SIGTERM, how long requests and background passes under way may take to finish
    /// before the process exits anyway (zero: [`DEFAULT_DRAIN`]).
    pub drain: Duration,
    /// Where backups and the backup log are kept; a folder under the system's temporary
    /// directory when `None` (tests).
    pub backup_dir: Option<std::path::PathBuf>,
    /// Queue orders while PostgreSQL is unreachable even without `Prefer: respond-async`
    /// (`EMPORIUM_ORDERS_QUEUE_WHEN_LEDGER_DOWN`).
    pub queue_orders_when_ledger_down: bool,
    /// How long a cart lives after its last change (zero: the 7-day default).
    pub cart_ttl: Duration,
}

/// The drain time when none is configured.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

impl AppOptions {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<AppOptions> {
        let admin_tokens = crate::admin_auth::AdminTokens::from_config(
            settings.admin_tokens.as_deref(),
            settings.admin_token.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        Ok(AppOptions {
            admin_tokens,
            recovery: Some(RecoveryConfig {
                interval: Duration::from_secs(settings.recovery_interval_secs.max(1)),
                stale_after: Duration::from_secs(settings.recovery_stale_after_secs),
                reservation_ttl: Duration::from_secs(settings.reservation_ttl_secs),
            }),
            drain: Duration::from_secs(settings.shutdown_drain_secs),
            backup_dir: Some(settings.backup_dir.clone().into()),
            queue_orders_when_ledger_down: settings.orders_queue_when_ledger_down,
            cart_ttl: Duration::from_secs(settings.cart_ttl.max(1)),
        })
    }
}

impl Application {
    /// Binds `settings.listen` and wires the stores the settings name.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        if let Some(name) = &settings.failpoint {
            tracing::warn!(failpoint = %name, "test fail point armed");
            emporium_domain::failpoint::arm(name);
        }
        let backend = Backend::from_settings(settings, FeedWakeup::InProcess).await?;
        let stores = backend.stores.clone();
        let metrics = backend.metrics.clone();
        let mut app = Application::with_backend(
            &settings.listen,
            backend,
            AppOptions::from_settings(settings)?,
        )?;
        // Spawned here rather than from an `AppOptions` field, so that code building
        // `AppOptions` literally keeps compiling; embedders and tests that want the check
        // spawn `background::reconcile_forever` themselves. Not with one real store and one
        // in-memory stand-in: every record of the real one would look orphaned.
        let mixed = settings.postgres_url.is_some() != settings.mongodb_uri.is_some();
        match settings.reconcile_interval() {
            Some(_) if mixed => tracing::info!(
                "reconciliation check off: it compares PostgreSQL with MongoDB, and only one \
                 of them is configured"
            ),
            Some(interval) => {
                app.supervisor.spawn("reconciliation", move |shutdown| {
                    background::reconcile_forever(
                        stores.clone(),
                        metrics.clone(),
                        interval,
                        shutdown,
                    )
                });
            }
            None => {}
        }
        Ok(app)
    }

    /// Binds `listen` (port 0 picks a free port) and serves `backend`.
    pub fn with_backend(
        listen: &str,
        backend: Backend,
        options: AppOptions,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let port = listener.local_addr()?.port();
        let stores = backend.stores.clone();
        let rollup = backend.rollup.clone();
        if options.admin_tokens.is_empty() {
            tracing::info!(
                "admin routes are off: no admin token is configured (EMPORIUM_ADMIN_TOKENS)"
            );
        } else {
            tracing::info!(tokens = %options.admin_tokens.describe(), "admin routes are on");
        }
        let backup_dir = options.backup_dir.clone().unwrap_or_else(|| {
            let unique = emporium_domain::model::JobId::new();
            std::env::temp_dir().join(format!("emporium-backups-{}-{unique}", std::process::id()))
        });
        tracing::info!(dir = %backup_dir.display(), "backups and the backup log are kept here");
        let mut state = AppState::new(backend, options.admin_tokens, &backup_dir)?;
        state.queue_orders_when_ledger_down = options.queue_orders_when_ledger_down;
        if !options.cart_ttl.is_zero() {
            state.carts =
                emporium_domain::service::CartService::new(stores.clone(), options.cart_ttl);
        }
        let state = web::Data::new(state);
        let drain = if options.drain.is_zero() {
            DEFAULT_DRAIN
        } else {
            options.drain
        };
        let mut supervisor = Supervisor::new();
        // Workers that write pass the same gate as the API's writes (ADR 0015).
        let gate = state.backups.gate().clone();
        let (orders, writes) = (state.orders.clone(), gate.clone());
        supervisor.spawn("idempotency_sweep", move |shutdown| {
            background::sweep_idempotency_keys(
                orders.clone(),
                writes.clone(),
                Duration::from_secs(600),
                shutdown,
            )
        });
        // The primary's: a standby that serves reports cannot fold.
        let (reports, writes) = (rollup.clone(), gate.clone());
        supervisor.spawn("report_catch_up", move |shutdown| {
            background::catch_up_reports(
                reports.clone(),
                writes.clone(),
                Duration::from_secs(1),
                shutdown,
            )
        });
        let (hub, writes) = (state.feed.clone(), gate.clone());
        supervisor.spawn("event_feed", move |shutdown| {
            hub.clone().run(writes.clone(), shutdown)
        });
        let (changes, log) = (stores.catalog_changes.clone(), stores.feed.clone());
        supervisor.spawn("catalog_changes", move |shutdown| {
            crate::feed::follow_catalog_forever(changes.clone(), log.clone(), shutdown)
        });
        let (search, hub, metrics) = (
            state.search.clone(),
            state.feed.clone(),
            state.metrics.clone(),
        );
        supervisor.spawn("search_index", move |shutdown| {
            crate::search::keep_index_current(
                search.clone(),
                hub.clone(),
                metrics.clone(),
                shutdown,
            )
        });
        let registry = state.metrics.registry.clone();
        supervisor.spawn("metrics_upkeep", move |shutdown| {
            let registry = registry.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                while shutdown.wait(tick.tick()).await {
                    registry.upkeep();
                }
            }
        });
        let interrupted = state.backups.clone();
        tokio::spawn(async move {
            match interrupted.settle_interrupted().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    jobs = n,
                    "backup jobs of a process that is gone were marked failed"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "could not check the backup log for interrupted jobs")
                }
            }
        });
        let backups = state.backups.clone();
        supervisor.spawn("log_archive", move |shutdown| {
            crate::backups::archive_forever(backups.clone(), Duration::from_secs(10), shutdown)
        });
        let (orders, writes) = (state.orders.clone(), gate.clone());
        supervisor.spawn("order_queue", move |shutdown| {
            background::drain_order_queue(
                orders.clone(),
                writes.clone(),
                Duration::from_secs(1),
                shutdown,
            )
        });
        let (recommendations, writes) = (state.recommendations.clone(), gate.clone());
        supervisor.spawn("recommendations", move |shutdown| {
            background::refresh_recommendations(
                recommendations.clone(),
                writes.clone(),
                Duration::from_secs(300),
                shutdown,
            )
        });
        let (carts, writes) = (state.carts.clone(), gate.clone());
        supervisor.spawn("cart_purge", move |shutdown| {
            background::purge_expired_carts(
                carts.clone(),
                writes.clone(),
                Duration::from_secs(60),
                shutdown,
            )
        });
        let (log, writes) = (stores.feed.clone(), gate.clone());
        supervisor.spawn("feed_prune", move |shutdown| {
            crate::feed::prune_forever(
                log.clone(),
                writes.clone(),
                Duration::from_secs(60),
                shutdown,
            )
        });
        if let Some(recovery) = options.recovery {
            let metrics = state.metrics.clone();
            supervisor.spawn("recovery", move |shutdown| {
                background::recover_forever(
                    stores.clone(),
                    recovery.clone(),
                    metrics.clone(),
                    gate.clone(),
                    shutdown,
                )
            });
        }
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .wrap(actix_web::middleware::from_fn(
                    crate::metrics::record_request,
                ))
                .app_data(state.clone())
                .configure(http::routes)
                .service(
                    web::resource("/metrics")
                        .route(web::get().to(http::metrics))
                        .default_service(http::not_allowed("GET")),
                )
                .default_service(web::to(http::no_route))
        })
        .listen(listener)?
        // Signals are ours (`run_until_stopped`), so the drain covers background tasks too.
        .disable_signals()
        .shutdown_timeout(drain.as_secs().max(1))
        .run();
        Ok(Application {
            port,
            server,
            supervisor,
            drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, or until the handle stops it.
    ///
    /// On a signal the server drains: it stops accepting connections, requests under way
    /// (with the sagas they run) finish, background tasks stop at their next pause, and
    /// whatever is still running when the drain time is up is cut off, so the process
    /// exits within a bounded time. A saga cut off there is finished by the next process's
    /// recovery, from its log.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            supervisor,
            drain,
            ..
        } = self;
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        let served = tokio::select! {
            served = &mut server => served,
            signal = termination() => {
                tracing::info!(signal, drain_secs = drain.as_secs(), "draining: no new requests, finishing those under way");
                // The stop command is carried out by the server future itself, so both are
                // polled together.
                let ((), served, drained) = tokio::join!(
                    handle.stop(true),
                    server,
                    supervisor.shutdown(drain),
                );
                tracing::info!(background_stopped = drained.stopped, background_aborted = drained.aborted, "drained");
                return served;
            }
        };
        supervisor.shutdown(drain).await;
        served
    }
}

/// The first SIGTERM or SIGINT (Ctrl-C), by name.
async fn termination() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                tracing::warn!("cannot listen for signals; stop the server with its handle");
                std::future::pending().await
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
