//! Keeps this server's search index current: built from the stores at start, then fed
//! by the event feed. The index is never silently stale: until it is built, searches
//! answer 503; when the feed outpaces it (events dropped from its queue) it is rebuilt;
//! and how far it trails the feed is a metric (`emporium_search_lag_*`).

use crate::feed::FeedHub;
use crate::metrics::Metrics;
use crate::supervisor::Shutdown;
use emporium_domain::service::{PendingUpdates, SearchService};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// After an event, how long further events gather before the index is updated: one index
/// commit per burst rather than one per event.
const GATHER: Duration = Duration::from_millis(20);
/// Pause before trying again when the stores cannot be read.
const RETRY: Duration = Duration::from_secs(1);

/// Why the upkeep loop stopped following the feed.
enum Interrupted {
    /// Events were dropped before the index saw them: rebuild.
    Missed(u64),
    Shutdown,
}

pub async fn keep_index_current(
    search: SearchService,
    hub: Arc<FeedHub>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    loop {
        // Subscribe first: every change after this point arrives as an event, so nothing
        // the rebuild's reads miss is lost.
        let (events, start) = hub.subscribe();
        loop {
            match search.rebuild().await {
                Ok(products) => {
                    metrics.search_rebuilt(products, start.0);
                    tracing::info!(products, "search index built");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "search index cannot be built yet; retrying");
                    if !shutdown.wait(tokio::time::sleep(RETRY)).await {
                        return;
                    }
                }
            }
        }
        match follow(&search, events, &metrics, &shutdown).await {
            Interrupted::Missed(n) => {
                tracing::warn!(missed = n, "search index fell behind the feed; rebuilding");
            }
            Interrupted::Shutdown => return,
        }
    }
}

async fn follow(
    search: &SearchService,
    mut events: tokio::sync::broadcast::Receiver<Arc<crate::feed::Delivery>>,
    metrics: &Metrics,
    shutdown: &Shutdown,
) -> Interrupted {
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.requested() => return Interrupted::Shutdown,
            received = events.recv() => received,
        };
        let mut pending = PendingUpdates::default();
        let mut newest = match first {
            Ok(delivery) => delivery,
            Err(RecvError::Lagged(n)) => return Interrupted::Missed(n),
            Err(RecvError::Closed) => return Interrupted::Shutdown,
        };
        pending.note(&newest.event.event);
        if !shutdown.wait(tokio::time::sleep(GATHER)).await {
            return Interrupted::Shutdown;
        }
        loop {
            match events.try_recv() {
                Ok(delivery) => {
                    pending.note(&delivery.event.event);
                    newest = delivery;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => return Interrupted::Missed(n),
                Err(TryRecvError::Closed) => return Interrupted::Shutdown,
            }
        }
        while let Err(e) = search.apply(&pending).await {
            tracing::warn!(error = %e, "search index update failed; retrying");
            if !shutdown.wait(tokio::time::sleep(RETRY)).await {
                return Interrupted::Shutdown;
            }
        }
        let lag = (emporium_domain::model::now() - newest.event.event.at)
            .num_milliseconds()
            .max(0);
        metrics.search_applied(newest.event.seq.0, lag as u64);
    }
}
