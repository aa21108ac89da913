//! Building and running the HTTP server; shared by `main` and the integration tests.

use crate::backend::Backend;
use crate::background::{self, RecoveryConfig};
use crate::config::Settings;
use crate::http;
use crate::state::AppState;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

/// What the server needs besides its stores.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Bearer token for `/api/admin/*`; closed without one.
    pub admin_token: Option<String>,
    /// Background saga recovery and reservation expiry; off when `None`.
    pub recovery: Option<RecoveryConfig>,
}

impl AppOptions {
    pub fn from_settings(settings: &Settings) -> AppOptions {
        AppOptions {
            admin_token: settings.admin_token.clone(),
            recovery: Some(RecoveryConfig {
                interval: Duration::from_secs(settings.recovery_interval_secs.max(1)),
                stale_after: Duration::from_secs(settings.recovery_stale_after_secs),
                reservation_ttl: Duration::from_secs(settings.reservation_ttl_secs),
            }),
        }
    }
}

impl Application {
    /// Binds `settings.listen` and wires the stores the settings name.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        if let Some(name) = &settings.failpoint {
            tracing::warn!(failpoint = %name, "test fail point armed");
            emporium_domain::failpoint::arm(name);
        }
        let backend = Backend::from_settings(settings).await?;
        let stores = backend.stores.clone();
        let app = Application::with_backend(
            &settings.listen,
            backend,
            AppOptions::from_settings(settings),
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
                tokio::spawn(background::reconcile_forever(stores, interval));
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
        let state = web::Data::new(AppState::new(backend, options.admin_token));
        tokio::spawn(http::idempotency::sweep(
            state.stores.clone(),
            Duration::from_secs(600),
        ));
        if let Some(recovery) = options.recovery {
            tokio::spawn(background::recover_forever(
                state.stores.clone(),
                recovery,
                state.metrics.clone(),
            ));
        }
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(http::routes)
                .route("/metrics", web::get().to(http::metrics))
                .default_service(web::to(http::no_route))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish) or the handle stops it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
