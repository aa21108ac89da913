//! The order queue: placements taken while the ledger was unreachable (`Prefer:
//! respond-async`), kept in the catalog's store until the ledger is back (ADR 0016).

use super::{Order, OrderId, OrderRequest, OrderStatus, Timestamp};
use serde::{Deserialize, Serialize};

/// Where a queued placement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for the ledger.
    Queued,
    /// A worker is placing it (a claim older than the lease is taken over).
    Placing,
    /// Placed: the ledger holds the order, and says how it ended.
    Placed,
    /// Not placed (stock ran out, the payment was declined, a product was deleted):
    /// `failure_reason` says why; the ledger holds it as a `failed` order.
    Failed,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Queued => "queued",
            QueueState::Placing => "placing",
            QueueState::Placed => "placed",
            QueueState::Failed => "failed",
        }
    }
}

/// One queued placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedOrder {
    pub id: OrderId,
    /// The request as the client sent it (payment token included: the placement runs
    /// later, and needs it then).
    pub request: OrderRequest,
    /// The order as priced when it was taken, `queued`: what the 202 showed.
    pub order: Order,
    pub state: QueueState,
    pub failure_reason: Option<String>,
    pub received_at: Timestamp,
    /// When the current worker claimed it (`placing`).
    pub claimed_at: Option<Timestamp>,
}

impl QueuedOrder {
    pub fn new(request: OrderRequest, order: Order) -> QueuedOrder {
        QueuedOrder {
            id: order.id,
            request,
            received_at: order.created_at,
            order,
            state: QueueState::Queued,
            failure_reason: None,
            claimed_at: None,
        }
    }

    /// The order as a client sees it while the ledger does not hold it yet: `queued`
    /// until a worker has settled it, then `failed` with the reason.
    pub fn view(&self) -> Order {
        let mut order = self.order.clone();
        if self.state == QueueState::Failed {
            order.status = OrderStatus::Failed;
            order.failure_reason = self.failure_reason.clone();
        }
        order
    }
}
