//! A payment gateway for tests and demos, following the card-network test tokens.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{Money, OrderId};
use emporium_domain::ports::{Authorization, PaymentGateway};
use emporium_domain::Result;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Approves `tok_visa` (and any other `tok_…` token) and declines `tok_chargeDeclined`
/// (and `tok_chargeDeclined…` variants). A token not starting with `tok_` is declined as
/// invalid. Idempotent per order: the first answer for an order id is returned again.
#[derive(Default)]
pub struct TestPaymentGateway {
    answers: Mutex<HashMap<OrderId, Authorization>>,
    voided: Mutex<HashSet<String>>,
    refunded: Mutex<HashSet<String>>,
}

impl TestPaymentGateway {
    /// How many distinct authorizations were approved (each order counts once).
    pub fn approved_count(&self) -> usize {
        lock(&self.answers)
            .values()
            .filter(|a| matches!(a, Authorization::Approved { .. }))
            .count()
    }

    pub fn is_voided(&self, reference: &str) -> bool {
        lock(&self.voided).contains(reference)
    }
}

#[async_trait]
impl PaymentGateway for TestPaymentGateway {
    async fn authorize(
        &self,
        idempotency_key: OrderId,
        _amount: &Money,
        token: &str,
    ) -> Result<Authorization> {
        let mut answers = lock(&self.answers);
        let answer = answers.entry(idempotency_key).or_insert_with(|| {
            if token.starts_with("tok_chargeDeclined") {
                Authorization::Declined {
                    reason: "card declined".into(),
                }
            } else if token.starts_with("tok_") {
                Authorization::Approved {
                    reference: format!("auth_{}", idempotency_key.as_uuid().simple()),
                }
            } else {
                Authorization::Declined {
                    reason: "invalid payment token".into(),
                }
            }
        });
        Ok(answer.clone())
    }

    async fn void(&self, reference: &str) -> Result<()> {
        lock(&self.voided).insert(reference.to_owned());
        Ok(())
    }

    async fn refund(&self, reference: &str, _amount: &Money) -> Result<()> {
        lock(&self.refunded).insert(reference.to_owned());
        Ok(())
    }
}
