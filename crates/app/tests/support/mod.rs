//! What several test binaries share: real stores from the testkit harness, and an app
//! spawned in-process on a random port.

#![allow(dead_code)] // each test binary uses its own part of this module

use emporium_app::backend::{connect_mongo, connect_postgres, Backend};
use emporium_app::startup::{AppOptions, Application};
use emporium_testkit::harness::mongo::TestMongo;
use emporium_testkit::harness::postgres::TestPostgres;
use std::any::Any;
use std::sync::Arc;

/// Keeps test databases alive; they are dropped with it.
pub type Guards = Vec<Box<dyn Any + Send + Sync>>;

/// A backend on a fresh PostgreSQL database and a fresh MongoDB database, migrated the way
/// `emporium serve` does it, with the test payment gateway.
pub async fn real_backend() -> (Backend, Guards) {
    let (pg, mongo) = real_databases().await;
    let backend = assemble_real(&pg.url, &mongo).await;
    (backend, vec![Box::new(pg), Box::new(mongo)])
}

/// [`real_backend`] with a fault proxy (issue 13) between the app and PostgreSQL: the
/// ledger connects through it, so faults put into it reach every pooled connection.
pub async fn real_backend_behind_a_fault_proxy(
) -> (Backend, Guards, Arc<emporium_chaos::FaultProxy>) {
    let (pg, mongo) = real_databases().await;
    // postgres://user@host:port/db: the proxy takes host:port's place.
    let (scheme_user, rest) = pg.url.split_once('@').expect("a user in the URL");
    let (upstream, db) = rest.split_once('/').expect("a database in the URL");
    let proxy = emporium_chaos::FaultProxy::start("postgres", "127.0.0.1:0", upstream)
        .await
        .expect("fault proxy");
    let through = format!("{scheme_user}@127.0.0.1:{}/{db}", proxy.port());
    let backend = assemble_real(&through, &mongo).await;
    (
        backend,
        vec![Box::new(pg), Box::new(mongo)],
        Arc::new(proxy),
    )
}

/// A fresh PostgreSQL database (cloned from the migrated template) and a fresh MongoDB
/// database.
async fn real_databases() -> (TestPostgres, TestMongo) {
    let pg =
        TestPostgres::from_template(&emporium_postgres::migrations_digest(), |url| async move {
            Ok(emporium_postgres::migrate_database(&url).await?)
        })
        .await
        .expect("test PostgreSQL database");
    let mongo = emporium_testkit::harness::mongo::create()
        .await
        .expect("test MongoDB database");
    (pg, mongo)
}

/// The stores `emporium serve` wires, migrated the way it does it: the ledger at `pg_url`
/// and the catalog in `mongo`, with the test payment gateway.
async fn assemble_real(pg_url: &str, mongo: &TestMongo) -> Backend {
    let settings = emporium_app::config::Settings::load(None).expect("default settings");
    let ledger = connect_postgres(
        pg_url,
        &settings,
        true,
        emporium_postgres::FeedWakeup::InProcess,
    )
    .await
    .expect("PostgreSQL ledger");
    let catalog = connect_mongo(&mongo.uri, &mongo.db, true)
        .await
        .expect("MongoDB catalog");
    Backend::assemble(
        Some(catalog),
        Some(ledger),
        Arc::new(emporium_memory::TestPaymentGateway::default()),
    )
}

/// Starts the app on `backend` at a free port; returns its `http://127.0.0.1:<port>/api`.
pub fn spawn_app(backend: Backend, options: AppOptions) -> String {
    if std::env::var_os("TEST_LOG").is_some() {
        emporium_app::telemetry::init("text");
    }
    let app = Application::with_backend("127.0.0.1:0", backend, options).expect("app builds");
    let base = format!("http://127.0.0.1:{}/api", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}
