//! # In-memory adapters
//!
//! Real, thread-safe implementations of every Emporium port. They are the embedded default
//! (`emporium serve` with no database configured) and the reference the contract suite
//! holds the database adapters to.
//!
//! Atomicity is what a database would give: every ledger operation (reserve and create an
//! order, confirm, cancel, ...) runs under one lock over inventory, orders and payments, so
//! no two orders can both see the last unit.

mod audit;
mod backup;
mod carts;
mod catalog;
mod customers;
mod events;
mod gateway;
mod idempotency;
mod ledger;
mod load;
mod order_queue;
mod reviews;

pub use audit::MemoryAdminAudit;
pub use backup::{MemoryBackup, SNAPSHOT_FILE};
pub use carts::MemoryCarts;
pub use catalog::MemoryCatalog;
pub use customers::MemoryCustomers;
pub use events::{MemoryEventLog, MEMORY_FEED_CAPACITY};
pub use gateway::TestPaymentGateway;
pub use idempotency::MemoryIdempotencyKeys;
pub use ledger::MemoryLedger;
pub use load::MemoryCatalogLoad;
pub use order_queue::MemoryOrderQueue;
pub use reviews::MemoryReviews;

use emporium_domain::ports::Stores;
use std::sync::Arc;

/// Every port on memory adapters, with the test payment gateway.
pub fn memory_stores() -> Stores {
    let feed = Arc::new(MemoryEventLog::default());
    let catalog = Arc::new(MemoryCatalog::default());
    let ledger = Arc::new(MemoryLedger::with_feed(feed.clone()));
    let customers = Arc::new(MemoryCustomers::default());
    let reviews = Arc::new(MemoryReviews::default());
    Stores {
        catalog_load: Arc::new(MemoryCatalogLoad::new(
            catalog.clone(),
            customers.clone(),
            reviews.clone(),
        )),
        ledger_load: ledger.clone(),
        catalog: catalog.clone(),
        suppliers: catalog.clone(),
        categories: catalog.clone(),
        catalog_changes: catalog,
        feed,
        inventory: ledger.clone(),
        orders: ledger.clone(),
        payments: ledger.clone(),
        gateway: Arc::new(TestPaymentGateway::default()),
        saga_log: ledger.clone(),
        audit: ledger.clone(),
        idempotency: Arc::new(MemoryIdempotencyKeys::default()),
        reports: ledger.clone(),
        admin_audit: Arc::new(MemoryAdminAudit::default()),
        order_queue: Arc::new(MemoryOrderQueue::default()),
        customers,
        carts: Arc::new(MemoryCarts::default()),
        reviews,
        warehouses: ledger.clone(),
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical
/// section here checks before it writes, so a poisoned state is still consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
