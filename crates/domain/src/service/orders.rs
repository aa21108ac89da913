//! The order use cases: placement and cancellation run as sagas (declared in
//! [`super::sagas`], run by [`crate::saga`]); reads and the moves that touch no stock go
//! straight to the ledger.
//!
//! Placement, step by step (ADR 0002):
//! 1. **price** — read the catalog, snapshot sku, name, category and unit price (no writes);
//! 2. **reserve** (compensatable) — one ledger transaction reserves every line, stores the
//!    order `pending` and begins the saga record; its compensation releases the units and
//!    marks the order `failed`;
//! 3. **authorize** (the pivot) — the payment gateway, keyed by the order id so a retry never
//!    charges twice; no stock row lock is held while it runs;
//! 4. **confirm** (retriable) — one ledger transaction records the payment, turns the
//!    reservation into a sale and ends the saga record.

use super::sagas::{cancel_order::CancelOrder, place_order::PlaceOrder};
use crate::error::{Error, Result};
use crate::model::{
    now, DomainEvent, EventKind, NewOrder, Order, OrderId, OrderQuery, OrderRequest, OrderStatus,
    Page, Payment, PaymentStatus,
};
use crate::ports::Stores;
use crate::saga;
use serde_json::json;

pub use super::sagas::place_order::GATEWAY_TIMEOUT;

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
    /// `Idempotency-Key` finishes a first attempt that crashed; an order that already ended
    /// is answered as it ended.
    #[tracing::instrument(name = "orders.place", skip_all, fields(order_id = %id))]
    pub async fn place(&self, id: OrderId, request: OrderRequest) -> Result<Order> {
        let ids: Vec<_> = request.lines.iter().map(|(id, _)| *id).collect();
        let products = self.stores.catalog.get_many(&ids).await?;
        let new = NewOrder::price(id, &request, &products)?;
        self.place_priced(&new, &request.payment.method, &request.payment.token)
            .await
    }

    /// [`OrderService::place`] for an id a keyed request may have used before: an order
    /// that already ended is answered as it ended, without running anything again.
    pub async fn resume(&self, id: OrderId, request: OrderRequest) -> Result<Order> {
        match self.stores.orders.get(id).await? {
            Some(order) if order.status != OrderStatus::Pending => settled_outcome(order),
            _ => self.place(id, request).await,
        }
    }

    async fn place_priced(&self, new: &NewOrder, method: &str, token: &str) -> Result<Order> {
        let mut placement = PlaceOrder::new(&self.stores, new, token);
        let payload = super::sagas::place_order::Payload {
            payment_method: method.to_owned(),
            authorization: None,
        };
        let outcome = saga::run(
            self.stores.saga_log.as_ref(),
            &mut placement,
            new.id.as_uuid(),
            payload,
        )
        .await;
        if let Some(order) = &placement.placed {
            self.publish_order(EventKind::OrderCreated, order).await;
            self.publish_stock(order).await;
        }
        outcome?;
        placement
            .placed
            .ok_or_else(|| Error::Internal("a completed placement left no order".into()))
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
    #[tracing::instrument(name = "orders.cancel", skip(self))]
    pub async fn cancel(&self, id: OrderId) -> Result<Order> {
        // The contract allows cancelling only `pending` and `confirmed` orders; a second
        // cancel is an invalid transition for the client (the ledger step itself stays
        // idempotent, for recovery).
        self.get(id)
            .await?
            .status
            .transition(OrderStatus::Cancelled)?;
        let mut cancellation = CancelOrder::new(&self.stores, id);
        let outcome = saga::run(
            self.stores.saga_log.as_ref(),
            &mut cancellation,
            id.as_uuid(),
            Default::default(),
        )
        .await;
        if let Some(done) = &cancellation.cancellation {
            if done.previous != OrderStatus::Cancelled {
                self.publish_order(EventKind::OrderUpdated, &done.order)
                    .await;
                self.publish_stock(&done.order).await;
            }
        }
        outcome?;
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
