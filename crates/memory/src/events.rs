//! Domain events over a tokio broadcast channel.

use async_trait::async_trait;
use emporium_domain::model::DomainEvent;
use emporium_domain::ports::EventBus;
use tokio::sync::broadcast;

/// Fans every published event out to all current subscribers. A subscriber that falls more
/// than the channel's capacity behind misses events (and is told so by `RecvError::Lagged`).
pub struct BroadcastEvents {
    sender: broadcast::Sender<DomainEvent>,
}

impl BroadcastEvents {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.sender.subscribe()
    }
}

impl Default for BroadcastEvents {
    fn default() -> Self {
        Self::new(4096)
    }
}

#[async_trait]
impl EventBus for BroadcastEvents {
    async fn publish(&self, event: DomainEvent) {
        tracing::trace!(kind = ?event.kind, id = %event.id, "event");
        // No subscriber is not an error: nobody is listening right now.
        let _ = self.sender.send(event);
    }
}
