//! # Emporium domain
//!
//! Entities, money, state machines, the **ports** every store adapter implements, and the
//! services (including the order-placement saga) that drive them.
//!
//! Nothing in this crate talks to a database, a network or HTTP: adapters live in
//! `emporium-memory`, `emporium-postgres` and `emporium-mongo`, the HTTP surface in
//! `emporium-app`. The types here follow "parse, don't validate": a value that exists is
//! valid (a [`model::Sku`] is never empty, a [`model::Quantity`] is never zero, a
//! [`model::Money`] never has more than two fraction digits).

pub mod error;
pub mod failpoint;
pub mod model;
pub mod ports;
pub mod saga;
pub mod service;

pub use error::{Error, FieldError, Result, Shortfall};
