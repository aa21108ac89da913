//! The order-placement saga (ADR 0002), declared once.
//!
//! | step | role | log | compensation |
//! |---|---|---|---|
//! | `reserve_stock` | compensatable | with the reservation (commit 1) | fail the order, units back |
//! | `authorize_payment` | pivot | probed: the gateway, by order id | void the authorization |
//! | `confirm_order` | retriable | with the confirmation (commit 2) | — |
//!
//! Commit 1 stores the order `pending`, reserves its units, writes its outbox rows and
//! begins the saga record, in one ledger transaction. The gateway call runs outside any
//! transaction, no row lock held. Commit 2 records the payment, confirms the order (or, on
//! a decline, fails it and releases the units) and ends the saga record, again in one
//! transaction.

use super::super::orders::void_authorization;
use crate::error::{Error, Result};
use crate::model::{
    Money, NewOrder, Order, OrderId, OrderStatus, Payment, PaymentStatus, SagaKind,
};
use crate::ports::{Authorization, Settlement, Stores};
use crate::saga::{Commit, Role, SagaDefinition, StepContext, StepName, StepSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest the saga waits for the payment gateway. Recovery leaves sagas alone until
/// they are much older than this, so it never races a live authorization.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ReserveStock,
    AuthorizePayment,
    ConfirmOrder,
}

impl StepName for Step {
    fn name(self) -> &'static str {
        match self {
            Step::ReserveStock => "reserve_stock",
            Step::AuthorizePayment => "authorize_payment",
            Step::ConfirmOrder => "confirm_order",
        }
    }
}

/// What the log keeps of a placement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default = "card")]
    pub payment_method: String,
    /// The gateway's answer, once known.
    pub authorization: Option<Authorization>,
}

fn card() -> String {
    "card".into()
}

/// One placement: the priced order and the card token on a live run, the stores alone in
/// recovery.
pub struct PlaceOrder<'a> {
    stores: &'a Stores,
    order: OrderId,
    /// Live run only: the order to reserve and the token to charge.
    live: Option<(&'a NewOrder, &'a str)>,
    /// The order's total, once known.
    total: Option<Money>,
    /// The order as the last ledger step left it.
    pub placed: Option<Order>,
}

impl<'a> PlaceOrder<'a> {
    pub fn new(stores: &'a Stores, order: &'a NewOrder, token: &'a str) -> Self {
        PlaceOrder {
            stores,
            order: order.id,
            live: Some((order, token)),
            total: Some(order.total),
            placed: None,
        }
    }

    pub fn recovering(stores: &'a Stores, order: OrderId) -> Self {
        PlaceOrder {
            stores,
            order,
            live: None,
            total: None,
            placed: None,
        }
    }

    async fn total(&mut self) -> Result<Money> {
        if let Some(total) = self.total {
            return Ok(total);
        }
        let order = self
            .stores
            .orders
            .get(self.order)
            .await?
            .ok_or(Error::NotFound("order"))?;
        self.total = Some(order.total);
        Ok(order.total)
    }

    fn live(&self) -> Result<(&'a NewOrder, &'a str)> {
        self.live
            .ok_or_else(|| Error::Internal("placement steps before the pivot run live only".into()))
    }
}

impl PlaceOrder<'_> {
    /// The confirmation found the order no longer `pending`: another run of the same
    /// placement settled it. That happens when a process dies mid-placement, a keyed retry
    /// finishes the order under a new saga record, and recovery later picks up the dead
    /// process's record (found by the soak, issue 13). The step is done: a confirmed order
    /// stays as it is. An order that was failed or cancelled without this authorization
    /// on record (cancelled while `pending`) gets it voided, so no money stays held.
    async fn settled_elsewhere(&self, from: OrderStatus, ours: Payment) -> Result<Order> {
        let order = self
            .stores
            .orders
            .get(self.order)
            .await?
            .ok_or(Error::NotFound("order"))?;
        tracing::warn!(order_id = %self.order, status = ?from, "placement already settled by another run");
        if matches!(order.status, OrderStatus::Failed | OrderStatus::Cancelled) {
            let recorded = self.stores.payments.for_order(self.order).await?;
            if recorded.is_none_or(|p| p.gateway_ref != ours.gateway_ref) {
                void_authorization(self.stores, ours).await?;
            }
        }
        Ok(order)
    }

    /// Before an approved authorization is voided: fails the order if it is still
    /// `pending`, under its row lock, and says whether another run of the same placement
    /// (a keyed retry; the gateway answers every run of an order with the one
    /// authorization) sold it instead, in which case the authorization is the sale's and
    /// stays. Failing first decides the race with such a run in the ledger: a run that
    /// confirms later meets a `failed` order and voids in turn
    /// ([`PlaceOrder::settled_elsewhere`]). Found by the soak (issue 13): the compensation
    /// voided a sold order's authorization, then failed forever on the `confirmed` order.
    async fn sold_elsewhere(&mut self, cx: &mut StepContext<'_, Payload>) -> Result<bool> {
        let released = self
            .stores
            .orders
            .settle(self.order, &Settlement::Fail(None), &cx.record_so_far()?)
            .await;
        match released {
            // Not committed as this compensation: the void is still to come.
            Ok(order) => {
                self.placed = Some(order);
                Ok(false)
            }
            Err(Error::InvalidTransition { from, .. }) if from.is_sale() => {
                tracing::warn!(order_id = %self.order, status = ?from,
                    "placement sold by another run; its authorization stays");
                Ok(true)
            }
            // Cancelled (the cancellation voids what it recorded; voiding again is
            // harmless), or never reserved.
            Err(Error::InvalidTransition { .. } | Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl SagaDefinition for PlaceOrder<'_> {
    const KIND: SagaKind = SagaKind::PlaceOrder;
    type Step = Step;
    type Payload = Payload;
    const STEPS: &'static [StepSpec<Step>] = &[
        StepSpec {
            step: Step::ReserveStock,
            role: Role::Compensatable,
            commit: Commit::WithEffect,
            compensable: true,
        },
        StepSpec {
            step: Step::AuthorizePayment,
            role: Role::Pivot,
            commit: Commit::Probed,
            compensable: true,
        },
        StepSpec {
            step: Step::ConfirmOrder,
            role: Role::Retriable,
            commit: Commit::WithEffect,
            compensable: false,
        },
    ];

    async fn run(&mut self, step: Step, cx: &mut StepContext<'_, Payload>) -> Result<()> {
        match step {
            Step::ReserveStock => {
                let (order, _) = self.live()?;
                let pending = self.stores.orders.reserve(order, &cx.record()?).await?;
                cx.committed();
                self.placed = Some(pending);
                Ok(())
            }
            Step::AuthorizePayment => {
                let (_, token) = self.live()?;
                let total = self.total().await?;
                let answer = tokio::time::timeout(
                    GATEWAY_TIMEOUT,
                    self.stores.gateway.authorize(self.order, &total, token),
                )
                .await
                .unwrap_or_else(|_| Err(Error::Unavailable("payment gateway".into())))?;
                cx.payload.authorization = Some(answer.clone());
                match answer {
                    Authorization::Approved { .. } => Ok(()),
                    Authorization::Declined { reason } => Err(Error::PaymentDeclined {
                        order_id: self.order,
                        reason,
                    }),
                }
            }
            Step::ConfirmOrder => {
                let Some(Authorization::Approved { reference }) = cx.payload.authorization.clone()
                else {
                    return Err(Error::Internal(format!(
                        "order {} reached confirmation without an authorization",
                        self.order
                    )));
                };
                let payment = Payment::new(
                    self.order,
                    self.total().await?,
                    &cx.payload.payment_method,
                    PaymentStatus::Authorized,
                    Some(reference),
                    None,
                );
                let settlement = Settlement::Confirm(payment.clone());
                let order = match self
                    .stores
                    .orders
                    .settle(self.order, &settlement, &cx.record()?)
                    .await
                {
                    Ok(order) => {
                        cx.committed();
                        order
                    }
                    Err(Error::InvalidTransition { from, .. }) => {
                        self.settled_elsewhere(from, payment).await?
                    }
                    Err(e) => return Err(e),
                };
                self.placed = Some(order);
                Ok(())
            }
        }
    }

    async fn compensate(&mut self, step: Step, cx: &mut StepContext<'_, Payload>) -> Result<()> {
        match step {
            Step::ReserveStock => {
                let declined = match &cx.payload.authorization {
                    Some(Authorization::Declined { reason }) => Some(Payment::new(
                        self.order,
                        self.total().await?,
                        &cx.payload.payment_method,
                        PaymentStatus::Declined,
                        None,
                        Some(reason.clone()),
                    )),
                    _ => None,
                };
                let settlement = Settlement::Fail(declined);
                match self
                    .stores
                    .orders
                    .settle(self.order, &settlement, &cx.record()?)
                    .await
                {
                    Ok(order) => {
                        cx.committed();
                        self.placed = Some(order);
                        Ok(())
                    }
                    // The reservation never committed: nothing to release.
                    Err(Error::NotFound(_)) => Ok(()),
                    // Another run of the same placement (a keyed retry) sold the order, and
                    // the customer may have cancelled it since: that run and the
                    // cancellation own its units; this one has nothing left to release.
                    Err(Error::InvalidTransition { from, .. }) => {
                        tracing::warn!(order_id = %self.order, status = ?from,
                            "placement settled by another run; nothing to release");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            // In doubt (the gateway timed out): ask it, and void what it authorized.
            Step::AuthorizePayment => match self.stores.gateway.lookup(self.order).await? {
                Some(Authorization::Approved { reference }) => {
                    if self.sold_elsewhere(cx).await? {
                        return Ok(());
                    }
                    let payment = Payment::new(
                        self.order,
                        self.total().await?,
                        &cx.payload.payment_method,
                        PaymentStatus::Authorized,
                        Some(reference),
                        None,
                    );
                    void_authorization(self.stores, payment).await?;
                    Ok(())
                }
                Some(declined @ Authorization::Declined { .. }) => {
                    cx.payload.authorization = Some(declined);
                    Ok(())
                }
                None => Ok(()),
            },
            Step::ConfirmOrder => Ok(()),
        }
    }

    async fn probe(&mut self, step: Step, cx: &mut StepContext<'_, Payload>) -> Result<bool> {
        match step {
            // No answer from the gateway means it never saw the order, and the process that
            // would have asked is gone: nobody will authorize it now.
            Step::AuthorizePayment => {
                let answer = match self.stores.payments.for_order(self.order).await? {
                    Some(p) if p.status == PaymentStatus::Authorized => p
                        .gateway_ref
                        .map(|reference| Authorization::Approved { reference }),
                    _ => self.stores.gateway.lookup(self.order).await?,
                };
                let approved = matches!(answer, Some(Authorization::Approved { .. }));
                cx.payload.authorization = answer;
                Ok(approved)
            }
            Step::ReserveStock | Step::ConfirmOrder => Ok(false),
        }
    }
}

/// Every declaration obeys the executor's shape: one pivot, compensatable steps before
/// it, retriable ones after.
#[cfg(test)]
mod tests {
    #[test]
    fn declaration_has_one_pivot() {
        crate::saga::assert_well_formed::<super::PlaceOrder<'_>>();
    }
}
