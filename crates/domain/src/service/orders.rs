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
    now, IdempotencyKey, KeyedOutcome, NewOrder, Order, OrderId, OrderQuery, OrderRequest,
    OrderStatus, Page, Payment, PaymentStatus, QueueState, QueuedOrder, RequestFingerprint,
    Timestamp,
};
use crate::ports::{IdempotencyClaim, Stores};
use crate::saga;
use std::time::Duration;

pub use super::sagas::place_order::GATEWAY_TIMEOUT;

/// How long a claimed idempotency key blocks duplicates before its claim counts as
/// abandoned (the process that held it died); the next retry then continues its order.
pub const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(30);
/// How long idempotency keys are kept.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

/// What a keyed placement answers: the outcome, and whether it is a replay of an earlier
/// request with the same key (nothing ran this time).
#[derive(Debug)]
pub struct KeyedPlacement {
    pub replayed: bool,
    pub outcome: Result<Order>,
}

/// How long a worker's claim on a queued order lasts before another worker may take the
/// order over (its worker died). Placing is idempotent on the order id, so a takeover is
/// safe even when the first worker was only slow.
pub const QUEUE_LEASE: Duration = Duration::from_secs(60);

/// What a placement that may be queued answers.
#[derive(Debug)]
pub enum Placement {
    /// Placed now: the order as the saga left it.
    Placed(Order),
    /// The ledger was unreachable: the order waits in the queue (`queued`).
    Queued(Order),
}

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

    /// Places an order at most once per idempotency key.
    ///
    /// The key is claimed before anything runs, with the id of the order this request will
    /// create. Then:
    /// - a new key runs the placement; a final outcome (the order, or a refusal: stock,
    ///   decline, validation) is stored and answered again to every retry (`replayed`);
    /// - a retry after an outage or a crash continues the *same* order (every saga step is
    ///   idempotent on the order id), or a new one when the first attempt was undone;
    /// - the same key with another request is `Conflict`, as is a retry that arrives while
    ///   the first attempt still runs.
    ///
    /// Outer `Err`s are the ones nothing was stored for (a conflict, a store outage).
    #[tracing::instrument(name = "orders.place_idempotent", skip_all, fields(key = %key))]
    pub async fn place_idempotent(
        &self,
        key: &IdempotencyKey,
        request: OrderRequest,
    ) -> Result<KeyedPlacement> {
        self.place_idempotent_as(key, request, OrderId::new()).await
    }

    /// [`OrderService::place_idempotent`] proposing `proposed` as the new order's id (a
    /// cart's checkout proposes the id its cart chose, so every checkout of one cart,
    /// keyed or not, places that one order).
    pub async fn place_idempotent_as(
        &self,
        key: &IdempotencyKey,
        request: OrderRequest,
        proposed: OrderId,
    ) -> Result<KeyedPlacement> {
        let fingerprint = RequestFingerprint::of_order(&request);
        let claim = self
            .stores
            .idempotency
            .claim(
                key.as_str(),
                fingerprint.as_str(),
                proposed.as_uuid(),
                IDEMPOTENCY_LEASE,
            )
            .await?;
        let id = match claim {
            IdempotencyClaim::Proceed { id } => OrderId::from(id),
            IdempotencyClaim::Replay(outcome) => {
                return Ok(KeyedPlacement {
                    replayed: true,
                    outcome: self.replay(outcome).await?,
                })
            }
            IdempotencyClaim::Mismatch => {
                return Err(Error::Conflict(format!(
                    "idempotency key `{key}` was already used with a different request"
                )))
            }
            IdempotencyClaim::InFlight => {
                return Err(Error::Conflict(format!(
                    "a request with idempotency key `{key}` is still in flight; retry shortly"
                )))
            }
        };
        let outcome = self.resume(id, request).await;
        match KeyedOutcome::of(&outcome) {
            Some(kept) => {
                if let Err(e) = self.stores.idempotency.complete(key.as_str(), &kept).await {
                    // The answer still goes out; a retry finds the claim expired after the
                    // lease and answers from the order's final state (`resume`).
                    tracing::error!(error = %e, "could not store the outcome of a keyed placement");
                }
            }
            None => {
                let resume = self.resume_id(id).await;
                if let Err(e) = self
                    .stores
                    .idempotency
                    .release(key.as_str(), resume.as_uuid())
                    .await
                {
                    tracing::warn!(error = %e, "could not release an idempotency key");
                }
            }
        }
        Ok(KeyedPlacement {
            replayed: false,
            outcome,
        })
    }

    /// A stored outcome, answered again: a placed order as it stands now.
    async fn replay(&self, outcome: KeyedOutcome) -> Result<Result<Order>> {
        Ok(match outcome {
            KeyedOutcome::Placed { order_id } => Ok(self.get(order_id).await?),
            KeyedOutcome::Refused { refusal } => Err(refusal.into_error()),
        })
    }

    /// The order a retry after an outage should work on: the same one while it can still go
    /// forward (not created yet, pending, or sold), a fresh one when the failed attempt was
    /// compensated (its order is `failed` or `cancelled` for good). When the ledger cannot
    /// be asked, the same one: the saga then answers from the order's final state.
    async fn resume_id(&self, id: OrderId) -> OrderId {
        match self.stores.orders.get(id).await {
            Ok(Some(order))
                if matches!(order.status, OrderStatus::Failed | OrderStatus::Cancelled) =>
            {
                OrderId::new()
            }
            _ => id,
        }
    }

    /// Forgets idempotency keys created before `cutoff` (default: [`IDEMPOTENCY_TTL`] ago);
    /// returns how many.
    pub async fn expire_idempotency_keys(&self, cutoff: Timestamp) -> Result<u64> {
        self.stores.idempotency.purge(cutoff).await
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
        // No event is published here: the ledger records `order.created` and
        // `stock.changed` with the change itself (ADR 0013).
        outcome?;
        // Confirmed, or settled by another run of the same placement meanwhile (see
        // `PlaceOrder::settled_elsewhere`): answered as it ended.
        placement
            .placed
            .ok_or_else(|| Error::Internal("a completed placement left no order".into()))
            .and_then(settled_outcome)
    }

    /// The order: from the ledger, or, while the ledger does not hold it (it is down, or
    /// a queued order is not placed yet), as the order queue shows it.
    pub async fn get(&self, id: OrderId) -> Result<Order> {
        let queued = || async {
            self.stores
                .order_queue
                .get(id)
                .await
                .map(|entry| entry.map(|e| e.view()))
        };
        match self.stores.orders.get(id).await {
            Ok(Some(order)) => Ok(order),
            Ok(None) => queued().await?.ok_or(Error::NotFound("order")),
            Err(Error::Unavailable(why)) => match queued().await {
                Ok(Some(order)) => Ok(order),
                _ => Err(Error::Unavailable(why)),
            },
            Err(e) => Err(e),
        }
    }

    /// [`OrderService::place`], except that when the ledger cannot be reached the priced
    /// order is put in the order queue (the catalog's store) and answered `queued`; a
    /// worker places it when the ledger is back ([`OrderService::drain_queue`]). The
    /// request is validated and priced against the catalog first, so an order that could
    /// never be placed is refused now, not later.
    #[tracing::instrument(name = "orders.place_or_queue", skip_all, fields(order_id = %id))]
    pub async fn place_or_queue(&self, id: OrderId, request: OrderRequest) -> Result<Placement> {
        let ids: Vec<_> = request.lines.iter().map(|(id, _)| *id).collect();
        let products = self.stores.catalog.get_many(&ids).await?;
        let new = NewOrder::price(id, &request, &products)?;
        match self
            .place_priced(&new, &request.payment.method, &request.payment.token)
            .await
        {
            Err(Error::Unavailable(why)) if self.ledger_is_down(id).await => {
                let entry = QueuedOrder::new(request, Order::queued(&new));
                self.stores.order_queue.enqueue(&entry).await?;
                tracing::warn!(reason = %why, "the ledger is unreachable: order queued");
                Ok(Placement::Queued(entry.view()))
            }
            outcome => outcome.map(Placement::Placed),
        }
    }

    /// True when the ledger itself does not answer (not the payment gateway, say).
    async fn ledger_is_down(&self, id: OrderId) -> bool {
        matches!(self.stores.orders.get(id).await, Err(Error::Unavailable(_)))
    }

    /// Places the queued orders, oldest first, each through the normal saga at the price
    /// it was taken at, until none waits or the ledger is still down. Each ends `placed`
    /// (the ledger's order says how it ended) or `failed` with the reason, the failure
    /// recorded in the ledger as a `failed` order so that reads and the feed show it.
    /// Returns how many it settled.
    #[tracing::instrument(name = "orders.drain_queue", skip_all)]
    pub async fn drain_queue(&self) -> Result<u64> {
        let queue = &self.stores.order_queue;
        let mut settled = 0;
        while let Some(entry) = queue.claim_next(QUEUE_LEASE).await? {
            match self.place_queued(&entry).await {
                Ok((state, reason)) => {
                    queue.settle(entry.id, state, reason.as_deref()).await?;
                    tracing::info!(order_id = %entry.id, state = state.as_str(), reason, "queued order settled");
                    settled += 1;
                }
                Err(e) => {
                    // Still down, or busy: back in its place, tried again on the next round.
                    queue.release(entry.id).await?;
                    tracing::warn!(order_id = %entry.id, error = %e, "queued order not placed yet");
                    return Ok(settled);
                }
            }
        }
        Ok(settled)
    }

    /// Places one queued order; the queue state it ends in, or an error to try again later.
    async fn place_queued(&self, entry: &QueuedOrder) -> Result<(QueueState, Option<String>)> {
        let new = NewOrder {
            id: entry.order.id,
            customer_id: entry.order.customer_id.clone(),
            customer_name: entry.order.customer_name.clone(),
            items: entry.order.items.clone(),
            total: entry.order.total,
            created_at: entry.order.created_at,
        };
        // A worker that died after placing it, or after recording the failure.
        if let Some(order) = self.stores.orders.get(entry.id).await? {
            if order.status == OrderStatus::Failed {
                let reason = failure_reason_of(&order);
                self.stores.orders.record_failed(&new, &reason).await?;
                return Ok((QueueState::Failed, Some(reason)));
            }
            if order.status != OrderStatus::Pending {
                return Ok((QueueState::Placed, None));
            }
        }
        let payment = &entry.request.payment;
        match self
            .place_priced(&new, &payment.method, &payment.token)
            .await
        {
            Ok(_) => Ok((QueueState::Placed, None)),
            Err(
                e @ (Error::Unavailable(_)
                | Error::Maintenance
                | Error::Conflict(_)
                | Error::Internal(_)),
            ) => Err(e),
            Err(refusal) => {
                let reason = match &refusal {
                    Error::InsufficientStock(short) => format!(
                        "insufficient stock: {}",
                        short
                            .iter()
                            .map(|s| format!(
                                "product {} requested {}, available {}",
                                s.product_id, s.requested, s.available
                            ))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    Error::PaymentDeclined { reason, .. } => format!("payment declined: {reason}"),
                    other => other.to_string(),
                };
                self.stores.orders.record_failed(&new, &reason).await?;
                Ok((QueueState::Failed, Some(reason)))
            }
        }
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
                self.stores.orders.advance(id, to).await
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
        let status = self.get(id).await?.status;
        if status == OrderStatus::Queued {
            return Err(Error::Conflict(format!(
                "order {id} is queued until the ledger is back; cancel it once it is placed"
            )));
        }
        status.transition(OrderStatus::Cancelled)?;
        let mut cancellation = CancelOrder::new(&self.stores, id);
        let outcome = saga::run(
            self.stores.saga_log.as_ref(),
            &mut cancellation,
            id.as_uuid(),
            Default::default(),
        )
        .await;
        outcome?;
        self.get(id).await
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

/// Why a `failed` order failed: its recorded reason, its payment's decline, or that it
/// failed and nothing says why.
fn failure_reason_of(order: &Order) -> String {
    if let Some(reason) = &order.failure_reason {
        return reason.clone();
    }
    match &order.payment {
        Some(p) if p.status == PaymentStatus::Declined => format!(
            "payment declined: {}",
            p.decline_reason.as_deref().unwrap_or("card declined")
        ),
        _ => "the placement failed".into(),
    }
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
