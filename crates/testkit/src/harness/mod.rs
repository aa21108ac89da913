//! Real servers for tests. Each test gets its own database, created with a random name and
//! dropped afterwards; servers are shared.
//!
//! Tests that take a server down (outage tests) run one of their own instead, which they
//! can stop and start again: [`private_postgres::PrivatePostgres`] and
//! [`private_mongo::PrivateMongo`].

pub mod mongo;
pub mod postgres;
pub mod private_mongo;
pub mod private_postgres;
