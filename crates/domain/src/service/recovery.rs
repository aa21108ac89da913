//! Saga recovery: drives every saga a crashed (or failing) process left behind to an end,
//! forward where the next step is safe, compensated otherwise, and expires the
//! reservations of abandoned `pending` orders.
//!
//! The rules are the executor's, the same for every saga (`crate::saga::executor`): before
//! the pivot a saga is compensated, after it a saga goes forward; whether a step took effect
//! the log says, or, for a step whose effect lives elsewhere, its declared probe (for the
//! payment: the payment record, then the gateway itself by the order's idempotency key).

use super::sagas;
use crate::error::Result;
use crate::model::{
    now, Order, OrderQuery, OrderStatus, PageRequest, Payment, PaymentStatus, SagaRecord,
    SagaState, Timestamp,
};
use crate::ports::{Authorization, Stores};
use crate::saga::Settled;
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
    /// Sagas whose compensation failed again (left `stuck`, retried with backoff), or whose
    /// store could not be asked (left as they were, for the next pass).
    pub stuck: usize,
    /// Pending orders whose reservation expired (or whose saga was settled from the order).
    pub expired_reservations: usize,
}

/// Finds unfinished sagas and settles them, each with its own declaration.
#[derive(Clone)]
pub struct RecoveryService {
    stores: Stores,
}

impl RecoveryService {
    /// Sagas in `state`, oldest first (the operator's view of stuck ones, say).
    pub async fn sagas_in(&self, state: SagaState, limit: u32) -> Result<Vec<SagaRecord>> {
        self.stores.saga_log.in_state(state, limit).await
    }

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
                let id = saga.id;
                match sagas::recover(&self.stores, saga).await {
                    Ok(Settled::Completed) => report.completed += 1,
                    Ok(Settled::Compensated) => report.compensated += 1,
                    Ok(Settled::Stuck | Settled::Running) => report.stuck += 1,
                    Err(e) => {
                        tracing::warn!(saga_id = %id, error = %e, "could not settle a saga; next pass retries");
                        report.stuck += 1;
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

    /// Forward when the gateway authorized the order, released otherwise. The order's
    /// saga, if the log has one, is settled later by [`RecoveryService::recover`]: every
    /// ledger step is idempotent, so it finds the order as this left it.
    async fn settle_pending(&self, order: &Order) -> Result<()> {
        let id = order.id;
        let authorized = self
            .known_payment(order)
            .await?
            .is_some_and(|p| p.status == PaymentStatus::Authorized);
        if authorized {
            self.stores.orders.confirm(id).await?;
            tracing::info!(order_id = %id, "recovery confirmed a paid pending order");
        } else {
            self.stores.orders.fail(id).await?;
            tracing::info!(order_id = %id, "recovery released an unpaid pending order");
        }
        Ok(())
    }

    /// The order's payment as far as anyone knows: its record, or, when none was recorded,
    /// the gateway's own answer for the order id, recorded now. `None` when the gateway
    /// never saw the order.
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
}

/// A stuck saga is retried 1 s after its first failed compensation, then after 2, 4, 8 ...
/// seconds (at most 5 minutes) since its last try.
fn backoff_elapsed(saga: &SagaRecord) -> bool {
    if saga.state != SagaState::Stuck {
        return true;
    }
    let failures = saga.compensation_failures().clamp(1, 9) as u32 - 1;
    let wait = chrono::Duration::seconds((1i64 << failures).min(300));
    let last: Timestamp = saga.updated_at;
    now() - last >= wait
}
