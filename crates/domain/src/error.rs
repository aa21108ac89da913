//! The one error type of the domain. Ports return it, services return it, and the HTTP
//! layer maps each variant to exactly one status code (in `emporium-app`, in one place).

use crate::model::{OrderId, OrderStatus, ProductId};
use serde::{Deserialize, Serialize};

/// Shorthand used across the domain and its ports.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid field of a request, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// One order line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortfall {
    pub product_id: ProductId,
    pub requested: u32,
    pub available: u32,
}

/// Everything that can go wrong in the domain, typed so callers can react to each case.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Well-formed input with invalid values (HTTP 422).
    #[error("validation failed: {}", fmt_fields(.0))]
    Validation(Vec<FieldError>),
    /// The named entity does not exist (HTTP 404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or reference rule would be broken (HTTP 409 `conflict`).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Some order lines cannot be reserved; nothing was changed (HTTP 409).
    #[error("insufficient stock for {} line(s)", .0.len())]
    InsufficientStock(Vec<Shortfall>),
    /// The caller may not do this to this resource (HTTP 403 `forbidden`).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A cart's prices moved since its lines were put; nothing was placed and the cart
    /// now carries the new prices (HTTP 409 `price_changed`).
    #[error("the price of {} product(s) changed", .0.len())]
    PriceChanged(Vec<crate::model::PriceChange>),
    /// The order state machine forbids this move (HTTP 409).
    #[error("an order cannot move from {from} to {to}")]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    /// The payment gateway declined the payment; the order exists as `failed` (HTTP 402).
    #[error("payment declined: {reason}")]
    PaymentDeclined { order_id: OrderId, reason: String },
    /// A long operation (backup, restore, ...) is running; one runs at a time (HTTP 409
    /// `conflict` with `job_id`).
    #[error("job {job_id} is running; one backup, restore, snapshot or PITR runs at a time")]
    JobRunning { job_id: crate::model::JobId },
    /// A point-in-time recovery target outside what can be recovered (HTTP 422 with the
    /// `window`).
    #[error("{message}")]
    OutsideWindow {
        message: String,
        from: Option<crate::model::Timestamp>,
        to: Option<crate::model::Timestamp>,
    },
    /// A shard route on a catalog that is not sharded (HTTP 409 `not_sharded`).
    #[error("{0}")]
    NotSharded(String),
    /// A restore is running: writes wait until it is over (HTTP 503 `maintenance`).
    #[error("a restore is running; writes are refused until it is over")]
    Maintenance,
    /// A backing store (or the gateway) is down or timed out (HTTP 503).
    #[error("{0} is unavailable")]
    Unavailable(String),
    /// A bug or an unexpected store answer (HTTP 500). Never caused by client input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// True when retrying later may succeed (store or gateway outage).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Maintenance)
    }
}

fn fmt_fields(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects field errors while parsing a request, so the client hears about all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value when `result` is Ok, records the error under `field` otherwise.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when nothing was recorded, the collected [`Error::Validation`] otherwise.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }

    /// The checked values, all present, when nothing was recorded: `fields` is a tuple of
    /// the `Option`s that [`Violations::check`] returned, and comes back as a tuple of the
    /// values. There is no case to `expect` away: a field that is missing without a
    /// recorded violation (a parser that forgot to record one) is reported as invalid too.
    pub fn finish_with<F: Present>(mut self, fields: F) -> Result<F::Values> {
        match (self.0.is_empty(), fields.present()) {
            (true, Some(values)) => Ok(values),
            (_, _) if !self.0.is_empty() => Err(Error::Validation(self.0)),
            (_, _) => {
                self.push("request", "is incomplete");
                Err(Error::Validation(self.0))
            }
        }
    }
}

/// A tuple of `Option`s that may all be present (see [`Violations::finish_with`]).
pub trait Present {
    type Values;
    fn present(self) -> Option<Self::Values>;
}

macro_rules! present_tuple {
    ($($t:ident),+) => {
        impl<$($t),+> Present for ($(Option<$t>,)+) {
            type Values = ($($t,)+);
            #[allow(non_snake_case)]
            fn present(self) -> Option<Self::Values> {
                let ($($t,)+) = self;
                Some(($($t?,)+))
            }
        }
    };
}

present_tuple!(A);
present_tuple!(A, B);
present_tuple!(A, B, C);
present_tuple!(A, B, C, D);
present_tuple!(A, B, C, D, E, F, G, H, I, J);

#[cfg(test)]
mod finish_with_tests {
    use super::*;

    #[test]
    fn present_values_come_back_in_order() {
        let v = Violations::new();
        assert_eq!(v.finish_with((Some(1), Some("a"))).unwrap(), (1, "a"));
    }

    #[test]
    fn recorded_violations_win() {
        let mut v = Violations::new();
        let n: Option<u32> = v.check("n", Err("must be positive".into()));
        let Err(Error::Validation(fields)) = v.finish_with((n, Some(2))) else {
            panic!("a validation error")
        };
        assert_eq!(fields, vec![FieldError::new("n", "must be positive")]);
    }

    #[test]
    fn a_missing_value_without_a_violation_is_still_a_validation_error() {
        let v = Violations::new();
        let Err(Error::Validation(fields)) = v.finish_with((Some(1), None::<u8>)) else {
            panic!("a validation error, not a panic")
        };
        assert_eq!(fields[0].field, "request");
    }
}
