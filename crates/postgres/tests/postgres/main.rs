//! The PostgreSQL adapter's integration tests, in one test binary: `contract` runs the
//! adapter-agnostic contract suite on the PostgreSQL ledger (with both locking strategies
//! and the mixed adapter sets); `ledger` checks what only PostgreSQL can show (SQL-level
//! invariants, locking under concurrency, migrations, outages).

mod contract;
mod ledger;
