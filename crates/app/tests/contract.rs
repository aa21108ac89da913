//! The contract suite on the production adapter set: catalog and suppliers on MongoDB,
//! inventory, orders, payments, saga log and idempotency keys on PostgreSQL. (The mixed
//! sets run in `emporium-postgres` and `emporium-mongo`; memory in `emporium-memory`.)

use emporium_app::backend::{connect_mongo, connect_postgres, Backend};
use emporium_testkit::harness::postgres::TestPostgres;
use emporium_testkit::Fixture;

async fn fixture() -> Fixture {
    let pg = TestPostgres::create()
        .await
        .expect("test PostgreSQL database");
    let mongo = emporium_testkit::harness::mongo::create()
        .await
        .expect("test MongoDB database");
    let settings = emporium_app::config::Settings::load(None).expect("settings");
    let ledger = connect_postgres(&pg.url, &settings, true)
        .await
        .expect("ledger");
    let catalog = connect_mongo(&mongo.uri, &mongo.db, true)
        .await
        .expect("catalog");
    let backend = Backend::assemble(
        Some(catalog),
        Some(ledger),
        std::sync::Arc::new(emporium_memory::TestPaymentGateway::default()),
    );
    Fixture::new(backend.stores).guard(pg).guard(mongo)
}

emporium_testkit::contract_suite!(fixture());
