//! # Resilience decorators
//!
//! Port implementations that wrap another implementation of the same port and change only
//! how failures look to the services, never what a successful call does:
//!
//! - [`FailFast`] over the ledger ports (inventory, orders, payments, saga log, idempotency
//!   keys): once a ping confirms the store is down, calls fail at once with `Unavailable`
//!   (503) instead of each waiting out a connection timeout; every call is bounded by a
//!   deadline, so no request hangs on a store that stopped answering (ADR 0007);
//! - [`BoundedFeed`] over the event feed: every call bounded by the same kind of deadline,
//!   without the breaker (the feed retries on its own);
//! - [`CachingCatalog`] over the catalog: recently read products keep pricing orders for a
//!   short while when the catalog store is unreachable (ADR 0007).
//!
//! **A new port method cannot skip them.** The port traits have no default method bodies,
//! so a decorator that does not implement a method the port gained does not compile; the
//! `forward!` macro in [`fail_fast`] only spares writing each forwarding body, and lists
//! every method it forwards by name.

pub mod bounded_feed;
pub mod caching_catalog;
pub mod fail_fast;

pub use bounded_feed::BoundedFeed;
pub use caching_catalog::{CacheOptions, CachingCatalog};
pub use fail_fast::{CallObserver, FailFast};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical
/// section here checks before it writes, so a poisoned state is still consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
