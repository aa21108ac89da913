//! PgLedger passes the shared contract suite: the ledger ports (inventory, orders, payments,
//! saga log, idempotency keys) come from PostgreSQL, one fresh database per case; the catalog, suppliers,
//! payment gateway and catalog change history are the in-memory reference adapters.
//!
//! The suite runs once per locking strategy: both must keep every promise of the ports.

use emporium_domain::ports::Stores;
use emporium_postgres::{LockingStrategy, PgLedger, PgOptions};
use emporium_testkit::harness::postgres::TestPostgres;
use emporium_testkit::Fixture;
use std::sync::Arc;

/// Memory adapters with the ledger ports replaced by a migrated `PgLedger`. The test
/// database lives as long as the fixture.
async fn fixture(locking: LockingStrategy) -> Fixture {
    let db = migrated_database().await.expect("test database");
    let opts = PgOptions {
        locking,
        ..PgOptions::default()
    };
    let ledger = PgLedger::connect(&db.url, opts).await.expect("connect");
    let ledger = Arc::new(ledger);
    let stores = Stores {
        inventory: ledger.clone(),
        orders: ledger.clone(),
        payments: ledger.clone(),
        idempotency: ledger.clone(),
        audit: ledger.clone(),
        reports: ledger.clone(),
        feed: ledger.clone(),
        admin_audit: ledger.clone(),
        warehouses: ledger.clone(),
        ledger_load: ledger.clone(),
        saga_log: ledger,
        ..emporium_memory::memory_stores()
    };
    Fixture::new(stores).guard(db)
}

/// A fresh database with every migration applied, cloned from a template built once.
async fn migrated_database() -> anyhow::Result<TestPostgres> {
    TestPostgres::from_template(&emporium_postgres::migrations_digest(), |url| async move {
        Ok(emporium_postgres::migrate_database(&url).await?)
    })
    .await
}

mod pessimistic {
    emporium_testkit::contract_suite!(super::fixture(super::LockingStrategy::Pessimistic));
}

mod optimistic {
    emporium_testkit::contract_suite!(super::fixture(super::LockingStrategy::Optimistic));
}
