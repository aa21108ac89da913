//! # Emporium testkit
//!
//! * [`contract`]: one adapter-agnostic suite of checks against the ports. Every adapter set
//!   runs it through [`contract_suite!`], so a team that writes its own adapter proves it
//!   behaves like ours by adding one line.
//! * [`harness`]: real PostgreSQL and MongoDB servers for tests, one fresh database per test.

pub mod contract;
pub mod harness;

pub use emporium_domain::ports::Stores;

/// Stores plus whatever keeps them alive (test databases are dropped when the guards drop).
pub struct Fixture {
    pub stores: Stores,
    pub guards: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl Fixture {
    pub fn new(stores: Stores) -> Self {
        Fixture {
            stores,
            guards: Vec::new(),
        }
    }

    pub fn guard(mut self, guard: impl std::any::Any + Send + Sync) -> Self {
        self.guards.push(Box::new(guard));
        self
    }
}
