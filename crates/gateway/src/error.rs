//! What can go wrong talking to the gateway, and how each case maps to the domain's error.

use emporium_domain::Error;
use rust_decimal::Decimal;

/// The adapter's own errors. [`HttpPaymentGateway`](crate::HttpPaymentGateway) returns them
/// through the port as [`emporium_domain::Error`] (see the `From` impl for the mapping).
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The configuration cannot work (bad base URL, zero attempts, ...).
    #[error("invalid payment gateway configuration: {0}")]
    Config(String),
    /// The amount has more fraction digits than its currency allows; nothing was sent.
    #[error("{amount} {currency} cannot be charged: {currency} has {digits} fraction digit(s)")]
    Amount {
        amount: Decimal,
        currency: String,
        digits: u32,
    },
    /// No definite answer after every attempt (connect errors, timeouts, 429, 5xx). The
    /// gateway may or may not have acted: ask it again later (`lookup`, or the same call
    /// with the same idempotency key).
    #[error("payment gateway gave no definite answer after {attempts} attempt(s): {last}")]
    Exhausted { attempts: u32, last: String },
    /// The gateway refused our credentials (HTTP 401/403): a configuration problem that
    /// retrying does not fix.
    #[error("payment gateway rejected the API key (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// The payment intent named by a void or refund does not exist at the gateway.
    #[error("payment gateway knows no payment intent {0}")]
    UnknownIntent(String),
    /// The same idempotency key was used before with different parameters.
    #[error("payment gateway refused a reused idempotency key: {0}")]
    KeyReused(String),
    /// A definite refusal we have no better mapping for (HTTP 4xx).
    #[error("payment gateway refused the request (HTTP {status}, {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// A 2xx answer we could not read.
    #[error("unreadable payment gateway answer: {0}")]
    Protocol(String),
}

impl GatewayError {
    /// True when the outcome is in doubt and asking again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, GatewayError::Exhausted { .. })
    }
}

/// The mapping at the port boundary: only an exhausted retry budget is transient
/// ([`Error::Unavailable`], the outcome is in doubt and recovery calls `lookup`); a
/// refused amount is a validation error; everything else is a definite failure that
/// retrying would not fix.
impl From<GatewayError> for Error {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Exhausted { .. } => Error::Unavailable(format!("payment gateway ({e})")),
            GatewayError::Amount { .. } => Error::invalid("amount", e.to_string()),
            GatewayError::UnknownIntent(_) => Error::NotFound("payment authorization"),
            GatewayError::KeyReused(_) => Error::Conflict(e.to_string()),
            GatewayError::Config(_)
            | GatewayError::Unauthorized { .. }
            | GatewayError::Rejected { .. }
            | GatewayError::Protocol(_) => Error::Internal(e.to_string()),
        }
    }
}
