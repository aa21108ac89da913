//! A few process counters, exposed in the Prometheus text format at `GET /metrics`.

use emporium_domain::service::RecoveryReport;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters the background tasks update and `/metrics` reads.
#[derive(Default)]
pub struct Metrics {
    sagas_stuck: AtomicU64,
    recovery_passes: AtomicU64,
    sagas_completed_by_recovery: AtomicU64,
    sagas_compensated_by_recovery: AtomicU64,
    recovery_failures: AtomicU64,
    reservations_expired: AtomicU64,
    feed_events: AtomicU64,
    feed_position: AtomicU64,
    feed_lag_ms: AtomicU64,
    feed_clients: AtomicU64,
    feed_slow_clients_closed: AtomicU64,
    feed_silent_clients_closed: AtomicU64,
    search_position: AtomicU64,
    search_lag_ms: AtomicU64,
    search_products: AtomicU64,
    search_rebuilds: AtomicU64,
    search_catch_ups: AtomicU64,
}

impl Metrics {
    pub fn record_recovery(&self, r: &RecoveryReport) {
        self.recovery_passes.fetch_add(1, Relaxed);
        self.sagas_completed_by_recovery
            .fetch_add(r.completed as u64, Relaxed);
        self.sagas_compensated_by_recovery
            .fetch_add(r.compensated as u64, Relaxed);
        self.recovery_failures.fetch_add(r.stuck as u64, Relaxed);
    }

    pub fn record_expired(&self, n: usize) {
        self.reservations_expired.fetch_add(n as u64, Relaxed);
    }

    pub fn set_stuck(&self, n: usize) {
        self.sagas_stuck.store(n as u64, Relaxed);
    }

    /// An event handed to this server's feed clients: its position, and how long after
    /// the change it got here.
    pub fn feed_delivered(&self, seq: u64, lag_ms: u64) {
        self.feed_events.fetch_add(1, Relaxed);
        self.feed_position.store(seq, Relaxed);
        self.feed_lag_ms.store(lag_ms, Relaxed);
    }

    pub fn feed_client_connected(&self) {
        self.feed_clients.fetch_add(1, Relaxed);
    }

    pub fn feed_client_gone(&self) {
        self.feed_clients.fetch_sub(1, Relaxed);
    }

    pub fn feed_slow_client_closed(&self) {
        self.feed_slow_clients_closed.fetch_add(1, Relaxed);
    }

    pub fn feed_silent_client_closed(&self) {
        self.feed_silent_clients_closed.fetch_add(1, Relaxed);
    }

    /// The search index is current up to the feed event `seq`, which happened `lag_ms`
    /// before it was applied.
    pub fn search_applied(&self, seq: u64, lag_ms: u64) {
        self.search_position.store(seq, Relaxed);
        self.search_lag_ms.store(lag_ms, Relaxed);
    }

    /// The search index was (re)built with `products`, current up to the feed event `seq`.
    pub fn search_rebuilt(&self, products: u64, seq: u64) {
        self.search_rebuilds.fetch_add(1, Relaxed);
        self.search_products.store(products, Relaxed);
        self.search_position.fetch_max(seq, Relaxed);
    }

    /// The search index's live queue overflowed and what it missed was read from the log.
    pub fn search_caught_up(&self) {
        self.search_catch_ups.fetch_add(1, Relaxed);
    }

    pub fn search_rebuilds(&self) -> u64 {
        self.search_rebuilds.load(Relaxed)
    }

    pub fn search_catch_ups(&self) -> u64 {
        self.search_catch_ups.load(Relaxed)
    }

    /// Feed events this server delivered that the search index has not applied yet.
    pub fn search_lag_events(&self) -> u64 {
        self.feed_position
            .load(Relaxed)
            .saturating_sub(self.search_position.load(Relaxed))
    }

    pub fn feed_slow_clients(&self) -> u64 {
        self.feed_slow_clients_closed.load(Relaxed)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "emporium_sagas_stuck",
            "gauge",
            "Sagas whose compensation keeps failing (GET /api/admin/sagas?state=stuck).",
            self.sagas_stuck.load(Relaxed),
        );
        metric(
            "emporium_recovery_passes_total",
            "counter",
            "Saga recovery passes run.",
            self.recovery_passes.load(Relaxed),
        );
        metric(
            "emporium_sagas_completed_by_recovery_total",
            "counter",
            "Abandoned sagas recovery drove forward.",
            self.sagas_completed_by_recovery.load(Relaxed),
        );
        metric(
            "emporium_sagas_compensated_by_recovery_total",
            "counter",
            "Abandoned sagas recovery compensated.",
            self.sagas_compensated_by_recovery.load(Relaxed),
        );
        metric(
            "emporium_recovery_failures_total",
            "counter",
            "Recovery attempts that failed and left a saga stuck.",
            self.recovery_failures.load(Relaxed),
        );
        metric(
            "emporium_reservations_expired_total",
            "counter",
            "Reservations of abandoned pending orders released or settled.",
            self.reservations_expired.load(Relaxed),
        );
        metric(
            "emporium_feed_events_total",
            "counter",
            "Events this server's feed handed to its WebSocket clients.",
            self.feed_events.load(Relaxed),
        );
        metric(
            "emporium_feed_position",
            "gauge",
            "The seq of the newest event this server's feed delivered.",
            self.feed_position.load(Relaxed),
        );
        metric(
            "emporium_feed_lag_milliseconds",
            "gauge",
            "From the change to its delivery, for the newest event delivered.",
            self.feed_lag_ms.load(Relaxed),
        );
        metric(
            "emporium_feed_clients",
            "gauge",
            "WebSocket feed clients connected to this server.",
            self.feed_clients.load(Relaxed),
        );
        metric(
            "emporium_feed_slow_clients_closed_total",
            "counter",
            "Feed clients closed with 1013 because their queue was full.",
            self.feed_slow_clients_closed.load(Relaxed),
        );
        metric(
            "emporium_feed_silent_clients_closed_total",
            "counter",
            "Feed clients closed because they stopped answering pings.",
            self.feed_silent_clients_closed.load(Relaxed),
        );
        metric(
            "emporium_search_lag_events",
            "gauge",
            "Feed events this server delivered that its search index has not applied yet.",
            self.search_lag_events(),
        );
        metric(
            "emporium_search_lag_milliseconds",
            "gauge",
            "From the change to its arrival in the search index, for the newest change applied.",
            self.search_lag_ms.load(Relaxed),
        );
        metric(
            "emporium_search_products",
            "gauge",
            "Products in the search index at its last (re)build.",
            self.search_products.load(Relaxed),
        );
        metric(
            "emporium_search_rebuilds_total",
            "counter",
            "Times the search index was rebuilt from the stores (at start, and after missing feed events).",
            self.search_rebuilds.load(Relaxed),
        );
        metric(
            "emporium_search_catch_ups_total",
            "counter",
            "Times the search index fell behind the live feed and read what it missed from the event log.",
            self.search_catch_ups.load(Relaxed),
        );
        out
    }
}
