//! Keyed requests: a client that sends the same request again with the same idempotency key
//! gets the first outcome again, and nothing runs twice.
//!
//! The store keeps the *domain* outcome ([`KeyedOutcome`]): the order a placement created,
//! or why it was refused. How that outcome looks on the wire (a status code, a body) is the
//! HTTP layer's business, decided in one place, so a replay is mapped exactly like a first
//! answer.

use crate::error::{Error, FieldError, Shortfall};
use crate::model::{OrderId, OrderRequest};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A client's idempotency key: 1-255 printable ASCII characters (no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(key: &str) -> Result<Self, String> {
        let printable = key.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if (1..=Self::MAX_LEN).contains(&key.len()) && printable {
            Ok(Self(key.to_owned()))
        } else {
            Err(format!(
                "must be 1-{} printable ASCII characters",
                Self::MAX_LEN
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What makes two requests "the same" for an idempotency key: a SHA-256 of the parsed
/// request, so spelling differences that parse to the same request (key order, whitespace,
/// `2` or `2.0`) do not count, and any difference in what would be done does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    pub fn of_order(request: &OrderRequest) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        let mut field = |name: &str, value: &str| {
            // Length-prefixed, so no two different requests give the same byte stream.
            for part in [name, value] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part.as_bytes());
            }
        };
        field("order", "v1");
        field("customer_id", request.customer_id.as_str());
        if let Some(name) = &request.customer_name {
            field("customer_name", name.as_str());
        }
        for (product, quantity) in &request.lines {
            field("product_id", &product.to_string());
            field("quantity", &quantity.get().to_string());
        }
        field("payment_method", &request.payment.method);
        field("payment_token", &request.payment.token);
        Self(format!("{:x}", hasher.finalize()))
    }

    /// A fingerprint as stored.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a keyed placement ended, as the idempotency store keeps it for replays. Only final
/// outcomes are kept: an outage or a bug releases the key instead, so a retry runs again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum KeyedOutcome {
    /// The order was placed; a replay answers with it as it stands now.
    Placed { order_id: OrderId },
    /// The request was refused for good.
    Refused { refusal: Refusal },
}

/// A final refusal: the domain errors a retry of the same request would get again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    Validation { fields: Vec<FieldError> },
    NotFound { entity: String },
    Conflict { message: String },
    InsufficientStock { shortfalls: Vec<Shortfall> },
    PaymentDeclined { order_id: OrderId, reason: String },
}

impl KeyedOutcome {
    /// The outcome to keep for `result`, or `None` when it is not final (an outage, a bug):
    /// then the key is released and a retry runs the request again.
    pub fn of(result: &Result<crate::model::Order, Error>) -> Option<Self> {
        match result {
            Ok(order) => Some(KeyedOutcome::Placed { order_id: order.id }),
            Err(e) => Refusal::of(e).map(|refusal| KeyedOutcome::Refused { refusal }),
        }
    }
}

impl Refusal {
    pub fn of(error: &Error) -> Option<Self> {
        Some(match error {
            Error::Validation(fields) => Refusal::Validation {
                fields: fields.clone(),
            },
            Error::NotFound(entity) => Refusal::NotFound {
                entity: (*entity).to_owned(),
            },
            Error::Conflict(message) => Refusal::Conflict {
                message: message.clone(),
            },
            Error::InvalidTransition { .. } => Refusal::Conflict {
                message: error.to_string(),
            },
            Error::InsufficientStock(shortfalls) => Refusal::InsufficientStock {
                shortfalls: shortfalls.clone(),
            },
            Error::PaymentDeclined { order_id, reason } => Refusal::PaymentDeclined {
                order_id: *order_id,
                reason: reason.clone(),
            },
            Error::Unavailable(_)
            | Error::Internal(_)
            | Error::Maintenance
            | Error::OutsideWindow { .. }
            | Error::PriceChanged(_)
            | Error::Forbidden(_)
            | Error::JobRunning { .. }
            | Error::NotSharded(_) => return None,
        })
    }

    /// The error this refusal was, to be answered again.
    pub fn into_error(self) -> Error {
        match self {
            Refusal::Validation { fields } => Error::Validation(fields),
            Refusal::NotFound { entity } => Error::NotFound(known_entity(&entity)),
            Refusal::Conflict { message } => Error::Conflict(message),
            Refusal::InsufficientStock { shortfalls } => Error::InsufficientStock(shortfalls),
            Refusal::PaymentDeclined { order_id, reason } => {
                Error::PaymentDeclined { order_id, reason }
            }
        }
    }
}

/// `Error::NotFound` names its entity with a `&'static str`; a stored name maps back to it.
fn known_entity(name: &str) -> &'static str {
    match name {
        "order" => "order",
        "product" => "product",
        "stock" => "stock",
        "supplier" => "supplier",
        _ => "resource",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OrderInput, ProductId};

    fn request(quantity: i64, token: &str) -> OrderRequest {
        OrderRequest::parse(OrderInput {
            customer_id: Some("cust-1".into()),
            customer_name: None,
            items: Some(vec![(
                Some(ProductId::from(uuid::Uuid::nil())),
                Some(quantity),
            )]),
            payment_method: Some("card".into()),
            payment_token: Some(token.into()),
            has_payment: true,
        })
        .expect("a valid request")
    }

    #[test]
    fn fingerprint_tells_requests_apart_by_what_they_would_do() {
        let a = RequestFingerprint::of_order(&request(2, "tok_visa"));
        assert_eq!(a, RequestFingerprint::of_order(&request(2, "tok_visa")));
        assert_ne!(a, RequestFingerprint::of_order(&request(3, "tok_visa")));
        assert_ne!(a, RequestFingerprint::of_order(&request(2, "tok_other")));
    }

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("order-2026-12-04_#1").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("ключ").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn only_final_outcomes_are_kept_and_they_round_trip() {
        assert_eq!(Refusal::of(&Error::Unavailable("postgres".into())), None);
        assert_eq!(Refusal::of(&Error::Internal("bug".into())), None);
        let declined = Error::PaymentDeclined {
            order_id: OrderId::new(),
            reason: "card declined".into(),
        };
        let refusal = Refusal::of(&declined).expect("final");
        let stored = serde_json::to_value(KeyedOutcome::Refused { refusal }).unwrap();
        let back: KeyedOutcome = serde_json::from_value(stored).unwrap();
        let KeyedOutcome::Refused { refusal } = back else {
            panic!("a refusal comes back as a refusal")
        };
        assert_eq!(refusal.into_error().to_string(), declined.to_string());
        let missing = Refusal::of(&Error::NotFound("product")).unwrap();
        assert!(matches!(missing.into_error(), Error::NotFound("product")));
    }
}
