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
            metrics.search_caught_up();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::Supervisor;
    use emporium_domain::model::{ProductQuery, SearchQuery, Units};
    use emporium_testkit::contract::product;

    /// A burst of changes larger than the indexer's live queue: what the queue dropped is
    /// read from the event log, and the index ends up with every product, without a rebuild.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_the_live_queue_is_read_from_the_log_without_a_rebuild() {
        let stores = emporium_memory::memory_stores();
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(FeedHub::with_queue(
            stores.feed.clone(),
            metrics.clone(),
            None,
            4,
        ));
        let index = Arc::new(emporium_search::TantivyIndex::new().unwrap());
        let search = SearchService::new(stores.clone(), index);
        let mut supervisor = Supervisor::new();
        let run = hub.clone();
        let gate = Arc::new(emporium_domain::service::WriteGate::default());
        supervisor.spawn("event_feed", move |shutdown| {
            run.clone().run(gate.clone(), shutdown)
        });
        let (changes, log) = (stores.catalog_changes.clone(), stores.feed.clone());
        supervisor.spawn("catalog_changes", move |shutdown| {
            crate::feed::follow_catalog_forever(changes.clone(), log.clone(), shutdown)
        });
        let (s, h, m) = (search.clone(), hub.clone(), metrics.clone());
        supervisor.spawn("search_index", move |shutdown| {
            keep_index_current(s.clone(), h.clone(), m.clone(), shutdown)
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !search.is_built() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the index was never built"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        for i in 0..300 {
            let p = product(&format!("Burst item {i}"), "burst", "1.00");
            stores.catalog.insert(&p).await.unwrap();
            stores
                .inventory
                .create_stock(&p.sku, p.id, Units::new(1).unwrap())
                .await
                .unwrap();
        }
        let query = SearchQuery {
            filter: ProductQuery {
                text: Some("burst".into()),
                ..Default::default()
            },
            in_stock: Some(true),
            ..Default::default()
        };
        loop {
            let total = search.list(&query).await.unwrap().total;
            if total == 300 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the index has {total} of 300 products"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            metrics.search_catch_ups() >= 1,
            "the live queue never overflowed"
        );
        assert_eq!(metrics.search_rebuilds(), 1, "only the first build");
        supervisor.shutdown(Duration::from_secs(1)).await;
    }
}
