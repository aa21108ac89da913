//! A real payment gateway for Emporium: [`HttpPaymentGateway`] implements the domain's
//! [`PaymentGateway`](emporium_domain::ports::PaymentGateway) port over a Stripe-style HTTP
//! API, beside the in-process `TestPaymentGateway` of `emporium-memory`, whose answers it
//! mirrors. The [`simulator`] module (served by the `emporium-gateway-simulator` binary) plays
//! the gateway in tests, failures included.
//!
//! # The API subset
//!
//! All requests carry `Authorization: Bearer <api key>`; bodies are JSON.
//!
//! | port call | request | answer |
//! |---|---|---|
//! | `authorize(order, amount, token)` | `POST /v1/payment_intents` with `amount` (integer minor units), `currency` (lower case), `capture_method: "manual"`, `confirm: true`, `payment_method: token`, `metadata.order_id`; header `Idempotency-Key: <order id>` | 200 intent `requires_capture` → `Approved { reference: intent id }`; 402 `card_error` → `Declined { reason }` (`card declined`, `card declined: insufficient funds`, `invalid payment token`, ...) |
//! | `lookup(order)` | `GET /v1/payment_intents/search?query=metadata['order_id']:'<order id>'` | the answer the intent holds (approved, even if voided since; or the recorded decline), `None` when there is no intent |
//! | `void(reference)` | `POST /v1/payment_intents/<reference>/cancel`, `Idempotency-Key: void-<reference>` | 200, or 400 `payment_intent_unexpected_state` on an already cancelled intent: both `Ok` |
//! | `refund(reference, amount)` | `POST /v1/refunds` with `payment_intent`, `amount`; `Idempotency-Key: refund-<reference>` | 200, or 400 `charge_already_refunded`: both `Ok` |
//!
//! Amounts are converted with decimal arithmetic only; an amount with more fraction digits
//! than its currency has (`12.50 JPY`) is refused ([`Error::Validation`]) rather than rounded.
//!
//! # Retries and idempotency
//!
//! Each call is tried up to [`HttpGatewayConfig::attempts`] times, each attempt bounded by
//! [`HttpGatewayConfig::timeout`], pausing [`HttpGatewayConfig::backoff`] then twice as long
//! before each following one. Only answers that are not answers are retried: connection
//! errors, timeouts, 409, 429 and 5xx. A definite 4xx is returned at once. Every attempt
//! carries the same idempotency key (the order id for an authorization), so the gateway
//! acts at most once however often we ask; that is what makes retrying an authorization
//! safe. When the attempts run out the outcome is in doubt (the gateway may have authorized
//! before the connection broke): the call fails with [`Error::Unavailable`], transient, and
//! the saga's recovery settles it with `lookup`, or by authorizing again with the same key.
//!
//! If an authorization key comes back with other parameters (Stripe's 400
//! `idempotency_error`), the first answer stands, as the port requires: the adapter looks it
//! up and returns it. Errors are typed ([`GatewayError`]) inside the crate and mapped to the
//! domain's [`Error`] at the port: exhausted retries → `Unavailable`; a refused amount →
//! `Validation`; unknown intent → `NotFound`; a rejected API key (401/403), any other
//! refusal or an unreadable answer → `Internal` (not transient: retrying will not help).
//! Every call runs in a `payment_gateway` tracing span with `op`, `key` and `attempt`.
//!
//! Against real Stripe, note that search is eventually consistent (an intent can take a
//! while to appear), so a `lookup` right after a timeout may say `None` for a payment that
//! exists; authorizing again with the same key within Stripe's 24 hour idempotency window
//! is the reliable check.
//!
//! [`Error`]: emporium_domain::Error
//! [`Error::Validation`]: emporium_domain::Error::Validation
//! [`Error::Unavailable`]: emporium_domain::Error::Unavailable

mod client;
mod config;
mod error;
mod minor_units;
pub mod simulator;
mod wire;

pub use client::HttpPaymentGateway;
pub use config::HttpGatewayConfig;
pub use error::GatewayError;
pub use minor_units::{fraction_digits, to_minor_units};
