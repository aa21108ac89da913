//! The contract suite on the production adapter set: catalog and suppliers on MongoDB,
//! inventory, orders, payments, saga log and idempotency keys on PostgreSQL. (The mixed
//! sets run in `emporium-postgres` and `emporium-mongo`; memory in `emporium-memory`.)

use crate::support;

async fn fixture() -> emporium_testkit::Fixture {
    let (backend, guards) = support::real_backend().await;
    let mut fixture = emporium_testkit::Fixture::new(backend.stores);
    fixture.guards.extend(guards);
    fixture
}

emporium_testkit::contract_suite!(fixture());
