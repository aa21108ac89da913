//! Keeps this server's search index current: built from the stores at start, then fed
//! by the event feed. The index is never silently stale: until it is built, searches
//! answer 503; when the feed outpaces it (events dropped from its live queue) it reads
//! what it missed from the event log, and only when even the log no longer has them
//! (older than the replay window) is it rebuilt; how far it trails the feed is a metric
//! (`emporium_search_lag_*`).

use crate::feed::FeedHub;
use crate::metrics::Metrics;
use crate::supervisor::Shutdown;
use emporium_domain::model::{FeedEvent, Seq};
use emporium_domain::service::{PendingUpdates, SearchService};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// After an event, how long further events gather before the index is updated: one index
/// commit per burst rather than one per event.
const GATHER: Duration = Duration::from_millis(20);
/// Pause before trying again when the stores cannot be read.
const RETRY: Duration = Duration::from_secs(1);

/// Events read from the log per round trip while catching up.
const CATCH_UP_PAGE: u32 = 1000;

/// Why the upkeep loop stopped following the feed.
enum Interrupted {
    /// Events the index never saw are gone from the log too: rebuild.
    Missed,
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
        match follow(&search, &hub, events, start, &metrics, &shutdown).await {
            Interrupted::Missed => {
                tracing::warn!("search index missed events the log no longer keeps; rebuilding");
            }
            Interrupted::Shutdown => return,
        }
    }
}

async fn follow(
    search: &SearchService,
    hub: &FeedHub,
    mut events: tokio::sync::broadcast::Receiver<Arc<crate::feed::Delivery>>,
    mut position: Seq,
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
        let mut newest = None;
        // Where the live queue first dropped events in this batch.
        let mut gap_after: Option<Seq> = None;
        match first {
            Ok(delivery) => note(&mut pending, &mut newest, &mut position, &delivery.event),
            Err(RecvError::Lagged(_)) => gap_after = Some(position),
            Err(RecvError::Closed) => return Interrupted::Shutdown,
        }
        if !shutdown.wait(tokio::time::sleep(GATHER)).await {
            return Interrupted::Shutdown;
        }
        loop {
            match events.try_recv() {
                Ok(delivery) => note(&mut pending, &mut newest, &mut position, &delivery.event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(_)) => {
                    gap_after.get_or_insert(position);
                }
                Err(TryRecvError::Closed) => return Interrupted::Shutdown,
            }
        }
        if let Some(mut after) = gap_after {
            // The live queue dropped events: read them from the log, from the last one
            // noted before the gap. (Events noted after the gap are read again; noting
            // twice is harmless.)
            loop {
                let replay = match hub.replay(after, CATCH_UP_PAGE).await {
                    Ok(replay) => replay,
                    Err(e) => {
                        tracing::warn!(error = %e, "search index cannot read the event log; retrying");
                        if !shutdown.wait(tokio::time::sleep(RETRY)).await {
                            return Interrupted::Shutdown;
                        }
                        continue;
                    }
                };
                if replay.truncated {
                    return Interrupted::Missed;
                }
                let full = replay.events.len() == CATCH_UP_PAGE as usize;
                for event in &replay.events {
                    after = event.seq;
                    note(&mut pending, &mut newest, &mut position, event);
                }
                if !full {
                    break;
                }
            }
        }
        while let Err(e) = search.apply(&pending).await {
            tracing::warn!(error = %e, "search index update failed; retrying");
            if !shutdown.wait(tokio::time::sleep(RETRY)).await {
                return Interrupted::Shutdown;
            }
        }
        if let Some((seq, at)) = newest {
            let lag = (emporium_domain::model::now() - at)
                .num_milliseconds()
                .max(0);
            metrics.search_applied(seq.0, lag as u64);
        }
    }
}

/// Notes `event` for the index and moves the position past it.
fn note(
    pending: &mut PendingUpdates,
    newest: &mut Option<(Seq, emporium_domain::model::Timestamp)>,
    position: &mut Seq,
    event: &FeedEvent,
) {
    pending.note(&event.event);
    if event.seq > *position {
        *position = event.seq;
        *newest = Some((event.seq, event.event.at));
    }
}
