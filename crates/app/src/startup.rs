//! Building and running the HTTP server; shared by `main` and the integration tests.

use crate::backend::Backend;
use crate::config::Settings;
use crate::http;
use crate::state::AppState;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use tracing_actix_web::TracingLogger;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `settings.listen` and wires the stores the settings name.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let backend = Backend::from_settings(settings).await?;
        Application::with_backend(&settings.listen, backend, settings.admin_token.clone())
    }

    /// Binds `listen` (port 0 picks a free port) and serves `backend`.
    pub fn with_backend(
        listen: &str,
        backend: Backend,
        admin_token: Option<String>,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState::new(backend, admin_token));
        tokio::spawn(http::idempotency::sweep(
            state.stores.clone(),
            std::time::Duration::from_secs(600),
        ));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(http::routes)
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
