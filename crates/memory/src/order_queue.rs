//! The order queue in memory: the reference for [`OrderQueue`]'s contract.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{now, OrderId, QueueState, QueuedOrder};
use emporium_domain::ports::OrderQueue;
use emporium_domain::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryOrderQueue {
    entries: Mutex<HashMap<OrderId, QueuedOrder>>,
}

#[async_trait]
impl OrderQueue for MemoryOrderQueue {
    async fn enqueue(&self, entry: &QueuedOrder) -> Result<()> {
        lock(&self.entries)
            .entry(entry.id)
            .or_insert_with(|| entry.clone());
        Ok(())
    }

    async fn get(&self, id: OrderId) -> Result<Option<QueuedOrder>> {
        Ok(lock(&self.entries).get(&id).cloned())
    }

    async fn claim_next(&self, lease: Duration) -> Result<Option<QueuedOrder>> {
        let at = now();
        let stale = at - chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut entries = lock(&self.entries);
        let next = entries
            .values_mut()
            .filter(|e| match e.state {
                QueueState::Queued => true,
                QueueState::Placing => e.claimed_at.is_none_or(|c| c < stale),
                QueueState::Placed | QueueState::Failed => false,
            })
            .min_by_key(|e| (e.received_at, e.id));
        Ok(next.map(|entry| {
            entry.state = QueueState::Placing;
            entry.claimed_at = Some(at);
            entry.clone()
        }))
    }

    async fn release(&self, id: OrderId) -> Result<()> {
        if let Some(entry) = lock(&self.entries).get_mut(&id) {
            if entry.state == QueueState::Placing {
                entry.state = QueueState::Queued;
                entry.claimed_at = None;
            }
        }
        Ok(())
    }

    async fn settle(&self, id: OrderId, state: QueueState, reason: Option<&str>) -> Result<()> {
        let mut entries = lock(&self.entries);
        let entry = entries
            .get_mut(&id)
            .ok_or(Error::NotFound("queued order"))?;
        entry.state = state;
        entry.failure_reason = reason.map(str::to_owned);
        entry.claimed_at = None;
        Ok(())
    }

    async fn waiting(&self) -> Result<u64> {
        Ok(lock(&self.entries)
            .values()
            .filter(|e| matches!(e.state, QueueState::Queued | QueueState::Placing))
            .count() as u64)
    }
}
