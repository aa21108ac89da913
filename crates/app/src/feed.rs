//! The server's side of the event feed: one task follows the event log and fans every
//! event out to this server's WebSocket clients (and the catalog cache), in feed order.
//!
//! The log is the only source (ADR 0013): the stores record events with their changes,
//! [`EventLog::relay`] gives them their `seq`, and the hub reads what is new whenever the
//! store wakes it (`LISTEN` on PostgreSQL). Every server runs a hub; each reads the same
//! log, so a client connected to any server sees every server's changes.

use crate::metrics::Metrics;
use bytestring::ByteString;
use emporium_domain::model::{FeedEvent, Replay, Seq, Topic};
use emporium_domain::ports::EventLog;
use emporium_resilience::CachingCatalog;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

use crate::supervisor::Shutdown;

/// How far a client may fall behind the live feed before it is closed with 1013: its
/// bounded queue.
pub const CLIENT_QUEUE: usize = 1024;
/// Events read from the log per query.
const PAGE: u32 = 1000;
/// The longest the hub sleeps without a wake-up from the store (a missed notification,
/// a reconnecting listener).
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// After a wake-up, how long the hub lets further commits gather before it relays: one
/// relay transaction per burst instead of one per committing transaction.
const COALESCE: Duration = Duration::from_millis(5);
/// How long published events are kept for replay (`?since=`): at least an hour (API.md).
pub const REPLAY_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// One event as clients receive it: serialized once, shared by every client.
#[derive(Debug)]
pub struct Delivery {
    pub event: FeedEvent,
    pub topic: Topic,
    pub text: ByteString,
}

impl Delivery {
    pub fn new(event: FeedEvent) -> Delivery {
        let text = serde_json::to_string(&event).unwrap_or_else(|e| {
            tracing::error!(error = %e, "an event did not serialize");
            String::from("{}")
        });
        Delivery {
            topic: event.event.kind.topic(),
            event,
            text: text.into(),
        }
    }
}

/// Fans the log out to subscribers.
pub struct FeedHub {
    log: Arc<dyn EventLog>,
    sender: broadcast::Sender<Arc<Delivery>>,
    /// The newest `seq` handed to subscribers. Stored before the send, so a subscriber
    /// that reads it after subscribing has everything above it coming on its receiver.
    delivered: AtomicU64,
    metrics: Arc<Metrics>,
    cache: Option<Arc<CachingCatalog>>,
}

impl FeedHub {
    pub fn new(
        log: Arc<dyn EventLog>,
        metrics: Arc<Metrics>,
        cache: Option<Arc<CachingCatalog>>,
    ) -> FeedHub {
        FeedHub::with_queue(log, metrics, cache, CLIENT_QUEUE)
    }

    /// A hub whose subscribers each queue at most `queue` events (tests make it small to
    /// make a subscriber fall behind).
    pub fn with_queue(
        log: Arc<dyn EventLog>,
        metrics: Arc<Metrics>,
        cache: Option<Arc<CachingCatalog>>,
        queue: usize,
    ) -> FeedHub {
        let (sender, _) = broadcast::channel(queue);
        FeedHub {
            log,
            sender,
            delivered: AtomicU64::new(0),
            metrics,
            cache,
        }
    }

    /// A live subscription, and the position it starts after: every event with a higher
    /// `seq` arrives on the receiver (some at or below it may too).
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Delivery>>, Seq) {
        let receiver = self.sender.subscribe();
        (receiver, Seq(self.delivered.load(Ordering::SeqCst)))
    }

    /// Events after `after` from the log (the replay of `?since=`).
    pub async fn replay(&self, after: Seq, limit: u32) -> emporium_domain::Result<Replay> {
        self.log.read_after(after, limit).await
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn deliver(&self, event: FeedEvent) {
        if let Some(cache) = &self.cache {
            cache.apply(&event.event);
        }
        let lag = (emporium_domain::model::now() - event.event.at)
            .num_milliseconds()
            .max(0);
        self.metrics.feed_delivered(event.seq.0, lag as u64);
        self.delivered.store(event.seq.0, Ordering::SeqCst);
        // No subscriber is fine: nobody is listening right now.
        let _ = self.sender.send(Arc::new(Delivery::new(event)));
    }

    /// Relays and delivers until shutdown. Starts at the log's head: what happened before
    /// this server started is for `?since=` to replay.
    /// While a restore holds the server in maintenance the relay rests: the log it reads
    /// is being replaced under it.
    pub async fn run(
        self: Arc<Self>,
        gate: Arc<emporium_domain::service::WriteGate>,
        shutdown: Shutdown,
    ) {
        let mut last = loop {
            let head = async {
                self.log.relay().await?;
                self.log.head().await
            };
            match head.await {
                Ok(head) => break head,
                Err(e) => {
                    tracing::warn!(error = %e, "event feed cannot reach its log; retrying");
                    if !shutdown
                        .wait(tokio::time::sleep(Duration::from_secs(1)))
                        .await
                    {
                        return;
                    }
                }
            }
        };
        self.delivered.store(last.0, Ordering::SeqCst);
        tracing::info!(head = %last, "event feed started");
        loop {
            if gate.in_maintenance() {
                if !shutdown.wait(tokio::time::sleep(IDLE_CHECK)).await {
                    return;
                }
                continue;
            }
            // Crash tests stop the process here: changes committed, none published.
            emporium_domain::failpoint::hit("feed.before_relay").await;
            if let Err(e) = self.log.relay().await {
                tracing::warn!(error = %e, "event relay failed; will retry");
            }
            let mut full_page = false;
            match self.log.read_after(last, PAGE).await {
                Ok(replay) => {
                    if replay.truncated {
                        // Events left the window before this server read them.
                        tracing::warn!(after = %last, "event feed fell behind its replay window");
                        if let Some(cache) = &self.cache {
                            cache.clear();
                        }
                    }
                    full_page = replay.events.len() as u32 == PAGE;
                    for event in replay.events {
                        last = event.seq;
                        self.deliver(event);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event feed read failed; will retry"),
            }
            if full_page {
                continue;
            }
            if !shutdown.wait(self.log.wait(IDLE_CHECK)).await {
                return;
            }
            tokio::time::sleep(COALESCE).await;
        }
    }
}

/// Deletes events older than the replay window, every `every`.
pub async fn prune_forever(
    log: Arc<dyn EventLog>,
    gate: Arc<emporium_domain::service::WriteGate>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    while shutdown.wait(tick.tick()).await {
        let Some(pruned) = crate::background::as_a_write(
            &gate,
            log.prune(emporium_domain::model::now() - REPLAY_WINDOW),
        )
        .await
        else {
            continue;
        };
        match pruned {
            Ok(0) => {}
            Ok(n) => tracing::debug!(events = n, "events older than the replay window pruned"),
            Err(e) => tracing::debug!(error = %e, "feed prune failed; will retry"),
        }
    }
}

/// Follows the catalog's change history into the log, starting again after a pause
/// whenever the stream breaks (MongoDB down, a failover).
pub async fn follow_catalog_forever(
    changes: Arc<dyn emporium_domain::ports::CatalogChanges>,
    log: Arc<dyn EventLog>,
    shutdown: Shutdown,
) {
    loop {
        let followed = tokio::select! {
            biased;
            () = shutdown.requested() => return,
            r = changes.follow(log.as_ref()) => r,
        };
        if let Err(e) = followed {
            tracing::warn!(error = %e, "catalog change stream stopped; resuming shortly");
        }
        if !shutdown
            .wait(tokio::time::sleep(Duration::from_secs(1)))
            .await
        {
            return;
        }
    }
}
