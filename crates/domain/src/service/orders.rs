//! The order-placement saga and the other order use cases.
//!
//! Placement, step by step (ADR 0002):
//! 1. **price** — read the catalog, snapshot sku, name, category and unit price (no writes);
//! 2. **reserve** (compensatable) — one ledger transaction reserves every line and stores the
//!    order `pending`; its compensation releases the units and marks the order `failed`;
//! 3. **authorize** (the pivot) — the payment gateway, keyed by the order id so a retry never
//!    charges twice; no stock row lock is held while it runs;
//! 4. **confirm** (retriable) — one ledger transaction turns the reservation into a sale.

use super::SagaRun;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::model::{
    now, DomainEvent, EventKind, NewOrder, Order, OrderId, OrderQuery, OrderRequest, OrderStatus,
    Page, Payment, PaymentStatus, SagaKind, SagaState, SagaStep, StepOutcome,
};
use crate::ports::{Authorization, Stores};
use serde_json::json;
use std::time::Duration;

/// How often a retriable step is tried before the saga is left for recovery.
const CONFIRM_ATTEMPTS: u32 = 3;
/// The longest the saga waits for the payment gateway. Recovery leaves sagas alone until
/// they are much older than this, so it never races a live authorization.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

/// Places, reads, moves and cancels orders.
#[derive(Clone)]
pub struct OrderService {
    stores: Stores,
}

impl OrderService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// Runs the placement saga. Outcomes: the `confirmed` order; `InsufficientStock` with
    /// nothing changed; `PaymentDeclined` with the order `failed` and its units back in stock;
    /// `Validation` for unknown products; `Unavailable` when a store is down.
    ///
    /// `id` is the new order's id. Placing again with the same id continues the same order
    /// (every step is idempotent on it), which is how a retried request with the same
    /// `Idempotency-Key` finishes a first attempt that crashed.
    #[tracing::instrument(name = "saga.place_order", skip_all, fields(order_id = %id))]
    pub async fn place(&self, id: OrderId, request: OrderRequest) -> Result<Order> {
        let ids: Vec<_> = request.lines.iter().map(|(id, _)| *id).collect();
        let products = self.stores.catalog.get_many(&ids).await?;
        let new = NewOrder::price(id, &request, &products)?;

        let saga = SagaRun::begin(
            self.stores.saga_log.clone(),
            SagaKind::PlaceOrder,
            new.id.as_uuid(),
            json!({"payment_method": request.payment.method}),
        )
        .await?;

        // Step 1: reserve stock and create the pending order (one atomic ledger write).
        saga.started(SagaStep::ReserveStock, SagaState::Running)
            .await;
        let pending = match self.stores.orders.create_pending(&new).await {
            Ok(order) => order,
            Err(e @ Error::InsufficientStock(_)) => {
                saga.failed(SagaStep::ReserveStock, SagaState::Compensated, &e)
                    .await;
                return Err(e);
            }
            Err(e) => {
                // The write may or may not have committed: compensate to be sure.
                saga.failed(SagaStep::ReserveStock, SagaState::Compensating, &e)
                    .await;
                self.release(&saga, new.id, SagaState::Compensated).await;
                return Err(e);
            }
        };
        if pending.status != OrderStatus::Pending {
            // A retry of a request whose order is already settled: answer as it ended.
            let outcome = settled_outcome(pending);
            let state = if outcome.is_ok() {
                SagaState::Completed
            } else {
                SagaState::Compensated
            };
            saga.record(
                SagaStep::ReserveStock,
                StepOutcome::Succeeded,
                state,
                Some("the order was already settled".into()),
            )
            .await;
            return outcome;
        }
        saga.succeeded(SagaStep::ReserveStock, SagaState::Running)
            .await;
        self.publish_order(EventKind::OrderCreated, &pending).await;
        self.publish_stock(&pending).await;
        failpoint::hit("place_order.after_reserve").await;

        // Step 2 (pivot): authorize the payment, keyed by the order id.
        saga.started(SagaStep::AuthorizePayment, SagaState::Running)
            .await;
        let authorization = tokio::time::timeout(
            GATEWAY_TIMEOUT,
            self.stores
                .gateway
                .authorize(new.id, &pending.total, &request.payment.token),
        )
        .await
        .unwrap_or_else(|_| Err(Error::Unavailable("payment gateway".into())));
        failpoint::hit("place_order.after_authorize").await;
        let reference = match authorization {
            Ok(Authorization::Approved { reference }) => reference,
            Ok(Authorization::Declined { reason }) => {
                saga.failed(SagaStep::AuthorizePayment, SagaState::Compensating, &reason)
                    .await;
                let payment = Payment::new(
                    new.id,
                    pending.total,
                    &request.payment.method,
                    PaymentStatus::Declined,
                    None,
                    Some(reason.clone()),
                );
                if let Err(e) = self.stores.payments.record(&payment).await {
                    tracing::error!(order_id = %new.id, error = %e, "could not record the declined payment");
                }
                self.release(&saga, new.id, SagaState::Compensated).await;
                return Err(Error::PaymentDeclined {
                    order_id: new.id,
                    reason,
                });
            }
            Err(e) => {
                // The gateway may or may not have authorized: release the stock now and
                // leave the saga compensating, so recovery asks the gateway (by the order
                // id) and voids an authorization it finds.
                saga.failed(SagaStep::AuthorizePayment, SagaState::Compensating, &e)
                    .await;
                self.release(&saga, new.id, SagaState::Compensating).await;
                return Err(e);
            }
        };
        let payment = Payment::new(
            new.id,
            pending.total,
            &request.payment.method,
            PaymentStatus::Authorized,
            Some(reference),
            None,
        );
        if let Err(e) = self.stores.payments.record(&payment).await {
            // Past the pivot: never compensate, leave the saga for recovery to finish.
            saga.failed(SagaStep::AuthorizePayment, SagaState::Running, &e)
                .await;
            return Err(e);
        }
        saga.succeeded(SagaStep::AuthorizePayment, SagaState::Running)
            .await;

        // Step 3 (retriable): the reservation becomes a sale.
        let mut attempt = 0;
        let confirmed = loop {
            attempt += 1;
            match self.stores.orders.confirm(new.id).await {
                Ok(order) => break order,
                Err(e) if e.is_transient() && attempt < CONFIRM_ATTEMPTS => {
                    tracing::warn!(order_id = %new.id, attempt, error = %e, "confirm failed, retrying");
                    tokio::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt - 1))).await;
                }
                Err(e) => {
                    saga.failed(SagaStep::ConfirmOrder, SagaState::Running, &e)
                        .await;
                    return Err(e);
                }
            }
        };
        saga.succeeded(SagaStep::ConfirmOrder, SagaState::Completed)
            .await;
        self.publish_order(EventKind::OrderUpdated, &confirmed)
            .await;
        self.publish_stock(&confirmed).await;
        Ok(confirmed)
    }

    /// Compensation of the reservation: release the units, mark the order `failed`.
    /// Safe to run twice; an order that was never created needs nothing.
    ///
    /// `settled` is the saga's state once the units are back: `Compensated`, or
    /// `Compensating` when something outside the ledger may still need undoing (a gateway
    /// call that timed out may have authorized the payment: recovery asks the gateway and
    /// voids it).
    async fn release(&self, saga: &SagaRun, id: OrderId, settled: SagaState) {
        failpoint::hit("place_order.during_compensation").await;
        match self.stores.orders.fail(id).await {
            Ok(order) => {
                saga.succeeded(SagaStep::ReleaseStock, settled).await;
                self.publish_order(EventKind::OrderUpdated, &order).await;
                self.publish_stock(&order).await;
            }
            Err(Error::NotFound(_)) => saga.succeeded(SagaStep::ReleaseStock, settled).await,
            Err(e) => {
                saga.failed(SagaStep::ReleaseStock, SagaState::Stuck, &e)
                    .await
            }
        }
    }

    pub async fn get(&self, id: OrderId) -> Result<Order> {
        self.stores
            .orders
            .get(id)
            .await?
            .ok_or(Error::NotFound("order"))
    }

    pub async fn list(&self, query: &OrderQuery) -> Result<Page<Order>> {
        self.stores.orders.list(query).await
    }

    /// `PUT /api/orders/{id}`: `shipped` and `delivered` move the order; `cancelled` runs the
    /// cancellation saga; `pending`, `confirmed` and `failed` belong to the placement saga
    /// and are refused as invalid transitions.
    #[tracing::instrument(name = "orders.set_status", skip(self))]
    pub async fn set_status(&self, id: OrderId, to: OrderStatus) -> Result<Order> {
        match to {
            OrderStatus::Cancelled => self.cancel(id).await,
            OrderStatus::Shipped | OrderStatus::Delivered => {
                let order = self.stores.orders.advance(id, to).await?;
                self.publish_order(EventKind::OrderUpdated, &order).await;
                Ok(order)
            }
            _ => {
                let current = self.get(id).await?;
                Err(Error::InvalidTransition {
                    from: current.status,
                    to,
                })
            }
        }
    }

    /// Cancellation saga: cancel in the ledger (stock released or returned in the same
    /// transaction), then void the payment authorization.
    #[tracing::instrument(name = "saga.cancel_order", skip(self))]
    pub async fn cancel(&self, id: OrderId) -> Result<Order> {
        // The contract allows cancelling only `pending` and `confirmed` orders; a second
        // cancel is an invalid transition for the client (the ledger step itself stays
        // idempotent, for recovery).
        self.get(id)
            .await?
            .status
            .transition(OrderStatus::Cancelled)?;
        let saga = SagaRun::begin(
            self.stores.saga_log.clone(),
            SagaKind::CancelOrder,
            id.as_uuid(),
            json!({}),
        )
        .await?;
        let cancellation = match self.stores.orders.cancel(id).await {
            Ok(c) => c,
            Err(e) => {
                // A transient failure may hide a committed cancellation: leave the saga for
                // recovery, which voids the payment if the order did get cancelled.
                let state = if e.is_transient() {
                    SagaState::Compensating
                } else {
                    SagaState::Compensated
                };
                saga.failed(SagaStep::CancelOrder, state, &e).await;
                return Err(e);
            }
        };
        saga.succeeded(SagaStep::CancelOrder, SagaState::Running)
            .await;
        if cancellation.previous != OrderStatus::Cancelled {
            self.publish_order(EventKind::OrderUpdated, &cancellation.order)
                .await;
            self.publish_stock(&cancellation.order).await;
        }

        let voided = match self.stores.payments.for_order(id).await {
            Ok(Some(payment)) => void_authorization(&self.stores, payment).await.map(|_| ()),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = voided {
            saga.failed(SagaStep::VoidPayment, SagaState::Stuck, &e)
                .await;
            return Err(e);
        }
        saga.succeeded(SagaStep::VoidPayment, SagaState::Completed)
            .await;
        self.get(id).await
    }

    async fn publish_order(&self, kind: EventKind, order: &Order) {
        self.stores
            .events
            .publish(DomainEvent::new(
                kind,
                order.id.as_uuid(),
                json!({
                    "status": order.status.as_str(),
                    "customer_id": order.customer_id.as_str(),
                    "total": order.total.to_string(),
                    "currency": order.total.currency().as_str(),
                }),
            ))
            .await;
    }

    /// One `stock.changed` per product on the order, with the stock as it is now.
    async fn publish_stock(&self, order: &Order) {
        let skus: Vec<_> = order.items.iter().map(|i| i.sku.clone()).collect();
        match self.stores.inventory.stock_many(&skus).await {
            Ok(levels) => {
                for level in levels {
                    self.stores
                        .events
                        .publish(DomainEvent::stock_changed(
                            level.product_id,
                            level.available(),
                            level.reserved,
                        ))
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read stock for stock.changed events"),
        }
    }
}

/// Voids an authorized payment at the gateway and records it `voided`; any other payment is
/// returned as it is. Safe to repeat: voiding twice is harmless at the gateway.
pub(crate) async fn void_authorization(stores: &Stores, payment: Payment) -> Result<Payment> {
    if payment.status != PaymentStatus::Authorized {
        return Ok(payment);
    }
    let reference = payment.gateway_ref.clone().unwrap_or_default();
    stores.gateway.void(&reference).await?;
    stores
        .payments
        .record(&Payment {
            status: PaymentStatus::Voided,
            updated_at: now(),
            ..payment
        })
        .await
}

/// The answer for an order that was already settled when a retry of its request arrived:
/// the order itself when it sold, the decline when the card was declined, and a conflict
/// when it failed or was cancelled otherwise (the request must be placed anew).
fn settled_outcome(order: Order) -> Result<Order> {
    match order.status {
        OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => Ok(order),
        OrderStatus::Failed
            if order
                .payment
                .as_ref()
                .is_some_and(|p| p.status == PaymentStatus::Declined) =>
        {
            let reason = order
                .payment
                .and_then(|p| p.decline_reason)
                .unwrap_or_else(|| "card declined".into());
            Err(Error::PaymentDeclined {
                order_id: order.id,
                reason,
            })
        }
        status => Err(Error::Conflict(format!(
            "order {} is already {status}; place it again",
            order.id
        ))),
    }
}
