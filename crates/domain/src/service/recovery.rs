//! Saga recovery: drives every saga a crashed (or failing) process left behind to an end,
//! forward where the next step is safe, compensated otherwise, and expires the
//! reservations of abandoned `pending` orders.
//!
//! The rule (ADR 0002): before the pivot (payment authorization) a saga is compensated;
//! after it, a saga goes forward. Whether the pivot happened is asked of the payment record
//! and, when that is missing, of the gateway itself by the order's idempotency key.

use super::orders::void_authorization;
use super::SagaRun;
use crate::error::{Error, Result};
use crate::model::{
    now, Order, OrderId, OrderQuery, OrderStatus, PageRequest, Payment, PaymentStatus, ProductId,
    SagaKind, SagaRecord, SagaState, SagaStep, Sku, StepOutcome, Timestamp,
};
use crate::ports::{Authorization, Stores};
use std::time::Duration;

/// What one recovery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// Sagas looked at.
    pub examined: usize,
    /// Sagas driven forward to `completed`.
    pub completed: usize,
    /// Sagas compensated.
    pub compensated: usize,
    /// Sagas whose compensation failed again (left `stuck`, retried with backoff).
    pub stuck: usize,
    /// Pending orders whose reservation expired (or whose saga was settled from the order).
    pub expired_reservations: usize,
}

/// How a saga ends.
enum Settled {
    Completed,
    Compensated,
}

/// Finds unfinished sagas and settles them.
#[derive(Clone)]
pub struct RecoveryService {
    stores: Stores,
}

impl RecoveryService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// One pass over the sagas in `running`, `compensating` and `stuck` that have not moved
    /// for `stale_after` (a live saga finishes well within [`super::GATEWAY_TIMEOUT`]).
    /// Stuck sagas are retried with exponential backoff (1 s doubling to 5 min).
    #[tracing::instrument(name = "saga.recover", skip(self))]
    pub async fn recover(&self, stale_after: Duration) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let cutoff = now() - chrono::Duration::from_std(stale_after).unwrap_or_default();
        for state in [
            SagaState::Running,
            SagaState::Compensating,
            SagaState::Stuck,
        ] {
            for saga in self.stores.saga_log.in_state(state, 500).await? {
                if saga.updated_at > cutoff || !backoff_elapsed(&saga) {
                    continue;
                }
                report.examined += 1;
                let run = SagaRun::resume(self.stores.saga_log.clone(), &saga);
                match self.settle(&saga).await {
                    Ok(Settled::Completed) => {
                        report.completed += 1;
                        run.record(
                            SagaStep::ConfirmOrder,
                            StepOutcome::Succeeded,
                            SagaState::Completed,
                            Some("settled by recovery".into()),
                        )
                        .await;
                    }
                    Ok(Settled::Compensated) => {
                        report.compensated += 1;
                        run.record(
                            compensation_step(saga.kind),
                            StepOutcome::Succeeded,
                            SagaState::Compensated,
                            Some("settled by recovery".into()),
                        )
                        .await;
                    }
                    Err(e) => {
                        report.stuck += 1;
                        run.failed(compensation_step(saga.kind), SagaState::Stuck, &e)
                            .await;
                    }
                }
            }
        }
        if report.examined > 0 {
            tracing::info!(?report, "recovery pass");
        }
        Ok(report)
    }

    /// Settles `pending` orders created more than `ttl` ago: forward when the gateway
    /// authorized them, otherwise released (their stock returns).
    #[tracing::instrument(name = "orders.expire_reservations", skip(self))]
    pub async fn expire_reservations(&self, ttl: Duration) -> Result<usize> {
        let query = OrderQuery {
            status: Some(OrderStatus::Pending),
            to: Some(now() - chrono::Duration::from_std(ttl).unwrap_or_default()),
            page: PageRequest {
                limit: 200,
                offset: 0,
            },
            ..Default::default()
        };
        let mut settled = 0;
        for order in self.stores.orders.list(&query).await?.items {
            self.settle_pending(&order).await?;
            settled += 1;
        }
        if settled > 0 {
            tracing::info!(settled, "expired reservations of abandoned pending orders");
        }
        Ok(settled)
    }

    async fn settle(&self, saga: &SagaRecord) -> Result<Settled> {
        match saga.kind {
            SagaKind::PlaceOrder => self.settle_placement(OrderId::from(saga.subject)).await,
            SagaKind::CancelOrder => self.settle_cancellation(OrderId::from(saga.subject)).await,
            SagaKind::CreateProduct => self.settle_creation(saga).await,
            SagaKind::DeleteProduct => self.settle_deletion(saga).await,
        }
    }

    async fn settle_placement(&self, id: OrderId) -> Result<Settled> {
        let Some(order) = self.stores.orders.get(id).await? else {
            return Ok(Settled::Compensated); // the reservation never committed
        };
        match order.status {
            OrderStatus::Pending => self.settle_pending(&order).await,
            OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => {
                Ok(Settled::Completed)
            }
            OrderStatus::Failed | OrderStatus::Cancelled => {
                self.void_if_authorized(&order).await?;
                Ok(Settled::Compensated)
            }
        }
    }

    /// Forward when the payment was authorized, compensated otherwise.
    async fn settle_pending(&self, order: &Order) -> Result<Settled> {
        let id = order.id;
        // No answer from the gateway means it never saw the order, and the saga that would
        // have asked is long gone: nobody will authorize it now.
        let authorized = self
            .known_payment(order)
            .await?
            .is_some_and(|p| p.status == PaymentStatus::Authorized);
        if authorized {
            self.stores.orders.confirm(id).await?;
            tracing::info!(order_id = %id, "recovery confirmed a paid pending order");
            Ok(Settled::Completed)
        } else {
            self.stores.orders.fail(id).await?;
            tracing::info!(order_id = %id, "recovery released an unpaid pending order");
            Ok(Settled::Compensated)
        }
    }

    async fn settle_cancellation(&self, id: OrderId) -> Result<Settled> {
        let order = self
            .stores
            .orders
            .get(id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        if order.status == OrderStatus::Cancelled {
            self.void_if_authorized(&order).await?;
            Ok(Settled::Completed)
        } else {
            Ok(Settled::Compensated) // the cancellation never committed
        }
    }

    /// The order's payment as far as anyone knows: its record, or, when none was recorded
    /// (the gateway call timed out or the process died), the gateway's own answer for the
    /// order id, recorded now. `None` when the gateway never saw the order.
    async fn known_payment(&self, order: &Order) -> Result<Option<Payment>> {
        if let Some(p) = self.stores.payments.for_order(order.id).await? {
            return Ok(Some(p));
        }
        let (status, gateway_ref, reason) = match self.stores.gateway.lookup(order.id).await? {
            Some(Authorization::Approved { reference }) => {
                (PaymentStatus::Authorized, Some(reference), None)
            }
            Some(Authorization::Declined { reason }) => {
                (PaymentStatus::Declined, None, Some(reason))
            }
            None => return Ok(None),
        };
        let payment = Payment::new(order.id, order.total, "card", status, gateway_ref, reason);
        Ok(Some(self.stores.payments.record(&payment).await?))
    }

    /// Voids the order's authorization, if there is one.
    async fn void_if_authorized(&self, order: &Order) -> Result<()> {
        if let Some(p) = self.known_payment(order).await? {
            void_authorization(&self.stores, p).await?;
        }
        Ok(())
    }

    /// A product whose stock record never appeared is removed again (the client never got
    /// its 201).
    async fn settle_creation(&self, saga: &SagaRecord) -> Result<Settled> {
        let id = ProductId::from(saga.subject);
        let sku = payload_sku(saga)?;
        let in_catalog = self.stores.catalog.get(id).await?.is_some();
        let stocked = self.stores.inventory.stock(&sku).await?.is_some();
        match (in_catalog, stocked) {
            (true, true) => Ok(Settled::Completed),
            (true, false) => {
                self.stores.catalog.delete(id).await?;
                Ok(Settled::Compensated)
            }
            _ => Ok(Settled::Compensated),
        }
    }

    /// A product already gone from the catalog loses its stock record too (forward).
    async fn settle_deletion(&self, saga: &SagaRecord) -> Result<Settled> {
        let id = ProductId::from(saga.subject);
        if self.stores.catalog.get(id).await?.is_some() {
            return Ok(Settled::Compensated);
        }
        self.stores
            .inventory
            .remove_stock(&payload_sku(saga)?)
            .await?;
        Ok(Settled::Completed)
    }
}

fn payload_sku(saga: &SagaRecord) -> Result<Sku> {
    saga.payload["sku"]
        .as_str()
        .and_then(|s| Sku::parse(s).ok())
        .ok_or_else(|| Error::Internal(format!("saga {} has no sku in its payload", saga.id)))
}

fn compensation_step(kind: SagaKind) -> SagaStep {
    match kind {
        SagaKind::PlaceOrder => SagaStep::ReleaseStock,
        SagaKind::CancelOrder => SagaStep::VoidPayment,
        SagaKind::CreateProduct => SagaStep::DeleteCatalogEntry,
        SagaKind::DeleteProduct => SagaStep::RestoreCatalogEntry,
    }
}

/// A stuck saga is retried 1 s after its first failed compensation, then after 2, 4, 8 ...
/// seconds (at most 5 minutes) since its last try.
fn backoff_elapsed(saga: &SagaRecord) -> bool {
    if saga.state != SagaState::Stuck {
        return true;
    }
    let compensation = compensation_step(saga.kind);
    let failures = saga
        .entries
        .iter()
        .filter(|e| e.outcome == StepOutcome::Failed && e.step == compensation)
        .count()
        .clamp(1, 9) as u32
        - 1;
    let wait = chrono::Duration::seconds((1i64 << failures).min(300));
    let last: Timestamp = saga.updated_at;
    now() - last >= wait
}
