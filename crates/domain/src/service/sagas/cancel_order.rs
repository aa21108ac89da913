//! The cancellation saga, declared once.
//!
//! | step | role | log | compensation |
//! |---|---|---|---|
//! | `cancel_order` | pivot | probed: is the order cancelled? | — |
//! | `void_payment` | retriable | probed | — |
//!
//! The ledger cancels the order in one transaction (a pending order's reservation released,
//! a confirmed order's units back on hand); then the gateway voids the authorization.

use super::super::orders::void_authorization;
use crate::error::{Error, Result};
use crate::model::{OrderId, OrderStatus, SagaKind};
use crate::ports::{Cancellation, Stores};
use crate::saga::{Commit, Role, SagaDefinition, StepContext, StepName, StepSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CancelOrder,
    VoidPayment,
}

impl StepName for Step {
    fn name(self) -> &'static str {
        match self {
            Step::CancelOrder => "cancel_order",
            Step::VoidPayment => "void_payment",
        }
    }
}

/// The order is the saga's subject; nothing else is needed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Payload {}

pub struct CancelOrder<'a> {
    stores: &'a Stores,
    order: OrderId,
    /// What the ledger step did (live run).
    pub cancellation: Option<Cancellation>,
}

impl<'a> CancelOrder<'a> {
    pub fn new(stores: &'a Stores, order: OrderId) -> Self {
        CancelOrder {
            stores,
            order,
            cancellation: None,
        }
    }
}

#[async_trait]
impl SagaDefinition for CancelOrder<'_> {
    const KIND: SagaKind = SagaKind::CancelOrder;
    type Step = Step;
    type Payload = Payload;
    const STEPS: &'static [StepSpec<Step>] = &[
        StepSpec {
            step: Step::CancelOrder,
            role: Role::Pivot,
            commit: Commit::Probed,
            compensable: false,
        },
        StepSpec {
            step: Step::VoidPayment,
            role: Role::Retriable,
            commit: Commit::Probed,
            compensable: false,
        },
    ];

    async fn run(&mut self, step: Step, _cx: &mut StepContext<'_, Payload>) -> Result<()> {
        match step {
            Step::CancelOrder => {
                self.cancellation = Some(self.stores.orders.cancel(self.order).await?);
                Ok(())
            }
            Step::VoidPayment => {
                if let Some(payment) = self.stores.payments.for_order(self.order).await? {
                    void_authorization(self.stores, payment).await?;
                }
                Ok(())
            }
        }
    }

    async fn compensate(&mut self, step: Step, _cx: &mut StepContext<'_, Payload>) -> Result<()> {
        Err(Error::Internal(format!(
            "cancel_order declares no compensation, yet {step:?} was compensated"
        )))
    }

    async fn probe(&mut self, step: Step, _cx: &mut StepContext<'_, Payload>) -> Result<bool> {
        Ok(match step {
            Step::CancelOrder => self
                .stores
                .orders
                .get(self.order)
                .await?
                .is_some_and(|o| o.status == OrderStatus::Cancelled),
            Step::VoidPayment => false,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn declaration_has_one_pivot() {
        crate::saga::assert_well_formed::<super::CancelOrder<'_>>();
    }
}
