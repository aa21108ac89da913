//! # Emporium PostgreSQL adapter
//!
//! [`PgLedger`] implements the ledger ports of `emporium-domain` — [`Inventory`],
//! [`Orders`], [`Payments`], [`SagaLog`] and `IdempotencyKeys` — on PostgreSQL, one transaction per port
//! method, with the schema in `migrations/` (embedded, run by [`PgLedger::migrate`]).
//!
//! How it keeps the ports' promises:
//!
//! * **No overselling.** `create_pending` locks the stock rows of every line
//!   (`SELECT ... FOR UPDATE`) before checking them, or, with
//!   [`LockingStrategy::Optimistic`], reserves only rows whose version it read. CHECK
//!   constraints (`0 <= reserved <= on_hand`) refuse any write that would break the
//!   invariant anyway.
//! * **No deadlocks.** Every transaction locks the order row first, then stock rows in SKU
//!   byte order; crossed baskets queue instead of waiting on each other.
//! * **One state machine.** Status changes are decided by the domain's
//!   `OrderStatus::transition` under the order's row lock.
//! * **Bounded waits.** Pool acquire, connect, `statement_timeout` and `lock_timeout` are
//!   all set ([`PgOptions`]); running out of any becomes `Error::Unavailable("postgres")`.
//! * **Events are never lost.** Triggers write every change of an order or a stock record
//!   to the `outbox` table in the same transaction, whoever makes it; a relay gives each
//!   its place in the feed (`outbox.rs`, ADR 0013).
//! * **Repairs never race orders.** Reconciliation's repair of a leaked reservation locks
//!   the stock row before it counts what pending orders hold (see `reconcile.rs`).
//!
//! Queries are built at run time (`sqlx::query`, never `query!`), so building needs no
//! database.
//!
//! [`Inventory`]: emporium_domain::ports::Inventory
//! [`Orders`]: emporium_domain::ports::Orders
//! [`Payments`]: emporium_domain::ports::Payments
//! [`SagaLog`]: emporium_domain::ports::SagaLog

mod admin_audit;
mod backup;
mod error;
mod idempotency;
mod inventory;
mod ledger;
mod load;
mod orders;
mod outbox;
mod payments;
mod reconcile;
mod reports;
mod rows;
mod saga_log;
mod snapshot;
mod stock;
mod topology;
mod warehouses;

pub use backup::{PgBackRest, PgBackRestConfig, COUNTED_TABLES};
pub use ledger::{
    migrate_database, migrations_digest, FeedWakeup, LockingStrategy, PgLedger, PgOptions, MIGRATOR,
};
pub use snapshot::PgSnapshot;
pub use topology::PgTopology;
