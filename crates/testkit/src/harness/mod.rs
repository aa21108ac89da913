//! Real servers for tests. Each test gets its own database, created with a random name and
//! dropped afterwards; servers are shared.

pub mod mongo;
pub mod postgres;
