//! The server's figures (issue 12), through the `metrics` crate into a Prometheus recorder
//! of this server's own (`metrics-exporter-prometheus`), rendered at `GET /metrics`:
//!
//! - every request, by method, route *pattern* (never the raw path) and status: a counter
//!   and a latency histogram;
//! - every ledger call, by operation: a latency histogram and an error counter (the
//!   fail-fast wrapper reports them, [`Registry`] is its `CallObserver`);
//! - the figures the background work keeps (sagas, recovery, reservations, the event feed,
//!   the search index, recommendations, the ledger's connection pool), set at each scrape.
//!
//! The same latencies feed quantile sketches for `GET /api/admin/performance`. The
//! recorder belongs to the server, not to the process: two servers in one test process
//! count apart.

use emporium_domain::service::RecoveryReport;
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::storage::Summary;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets, in seconds: sub-millisecond store calls to slow reports.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> = Metadata::new("emporium", metrics::Level::INFO, None);

/// One latency series for the performance route: how many, and their quantiles.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// This server's recorder, and the quantile sketches behind the performance route.
pub struct Registry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Per route (`GET /api/products/{id}`) and per store operation (`postgres place`).
    sketches: Mutex<BTreeMap<(&'static str, String), Summary>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        let builder = PrometheusBuilder::new();
        let recorder = builder
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        let registry = Registry {
            recorder,
            handle,
            sketches: Mutex::new(BTreeMap::new()),
        };
        registry.describe();
        registry
    }

    fn key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
        Key::from_parts(
            name,
            labels
                .iter()
                .map(|(k, v)| Label::new(*k, v.clone()))
                .collect::<Vec<_>>(),
        )
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, String)]) -> metrics::Counter {
        self.recorder
            .register_counter(&Registry::key(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, String)]) -> metrics::Gauge {
        self.recorder
            .register_gauge(&Registry::key(name, labels), &METADATA)
    }

    fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, String)],
    ) -> metrics::Histogram {
        self.recorder
            .register_histogram(&Registry::key(name, labels), &METADATA)
    }

    fn sketch(&self, kind: &'static str, name: String, elapsed: Duration) {
        if let Ok(mut sketches) = self.sketches.lock() {
            sketches
                .entry((kind, name))
                .or_insert_with(Summary::with_defaults)
                .add(elapsed.as_secs_f64() * 1000.0);
        }
    }

    /// One request answered: `route` is the matched pattern (`unmatched` when none).
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.counter(
            "emporium_http_requests_total",
            &[
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ],
        )
        .increment(1);
        self.histogram(
            "emporium_http_request_duration_seconds",
            &[("method", method.to_owned()), ("route", route.to_owned())],
        )
        .record(elapsed.as_secs_f64());
        self.sketch("route", format!("{method} {route}"), elapsed);
    }

    /// Quantiles of every route (`kind` `route`) or store operation (`store`) seen.
    pub fn latencies(&self, kind: &str) -> BTreeMap<String, Latency> {
        let Ok(sketches) = self.sketches.lock() else {
            return BTreeMap::new();
        };
        sketches
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, name), s)| {
                let q = |q: f64| (s.quantile(q).unwrap_or(0.0) * 1000.0).round() / 1000.0;
                (
                    name.clone(),
                    Latency {
                        count: s.count() as u64,
                        p50_ms: q(0.5),
                        p95_ms: q(0.95),
                        p99_ms: q(0.99),
                    },
                )
            })
            .collect()
    }

    /// Drains what the recorder buffers for its histograms; the server calls it every
    /// few seconds (rendering does it too).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    fn describe(&self) {
        use metrics::Unit;
        let counters = [
            ("emporium_http_requests_total", "Requests answered, by method, route pattern and status."),
            ("emporium_store_operation_errors_total", "Store calls that failed, by store and operation."),
            ("emporium_recovery_passes_total", "Saga recovery passes run."),
            ("emporium_sagas_completed_by_recovery_total", "Abandoned sagas recovery drove forward."),
            ("emporium_sagas_compensated_by_recovery_total", "Abandoned sagas recovery compensated."),
            ("emporium_recovery_failures_total", "Recovery attempts that failed and left a saga stuck."),
            ("emporium_reservations_expired_total", "Reservations of abandoned pending orders released or settled."),
            ("emporium_feed_events_total", "Events this server's feed handed to its WebSocket clients."),
            ("emporium_feed_slow_clients_closed_total", "Feed clients closed with 1013 because their queue was full."),
            ("emporium_feed_silent_clients_closed_total", "Feed clients closed because they stopped answering pings."),
            ("emporium_search_rebuilds_total", "Times the search index was rebuilt from the stores (at start, and after missing feed events)."),
            ("emporium_search_catch_ups_total", "Times the search index fell behind the live feed and read what it missed from the event log."),
            ("emporium_recommendation_cache_hits_total", "Recommendation requests served from the customer document."),
            ("emporium_recommendation_cache_misses_total", "Recommendation requests worked out on demand."),
            ("emporium_recommendation_computations_total", "Recommendation lists worked out (on demand and by the job)."),
            ("emporium_recommendation_round_trips_total", "Store round trips those computations made."),
            ("emporium_postgres_deadlocks_total", "Deadlocks PostgreSQL reported in the ledger's database."),
            (
                "emporium_catalog_cache_hits_total",
                "Product reads the catalog cache answered while MongoDB was down or slow.",
            ),
            (
                "emporium_catalog_cache_misses_total",
                "Product reads the catalog cache could not answer while MongoDB was down or slow.",
            ),
        ];
        for (name, help) in counters {
            self.recorder
                .describe_counter(name.into(), None, help.into());
        }
        let gauges = [
            ("emporium_sagas_stuck", "Sagas whose compensation keeps failing (GET /api/admin/sagas?state=stuck)."),
            ("emporium_feed_position", "The seq of the newest event this server's feed delivered."),
            ("emporium_feed_lag_seconds", "From the change to its delivery, for the newest event delivered."),
            ("emporium_feed_clients", "WebSocket feed clients connected to this server."),
            ("emporium_search_lag_events", "Feed events this server delivered that its search index has not applied yet."),
            ("emporium_search_lag_seconds", "From the change to its arrival in the search index, for the newest change applied."),
            ("emporium_search_products", "Products in the search index at its last (re)build."),
            ("emporium_postgres_pool_connections", "The ledger's pooled connections, by state (idle, busy)."),
            (
                "emporium_postgres_pool_acquire_seconds",
                "How long taking a ledger connection took at the last scrape (the wait a request would see).",
            ),
            ("emporium_postgres_pool_max_connections", "The most connections the ledger's pool opens."),
            ("emporium_reconcile_findings", "Inconsistencies the last reconciliation check found (ADR 0008)."),
            ("emporium_replication_lag_seconds", "How far each replica or standby is behind, by store and member."),
            ("emporium_replica_healthy", "1 when a replica set member or standby answers, 0 when it is down."),
        ];
        for (name, help) in gauges {
            self.recorder.describe_gauge(name.into(), None, help.into());
        }
        self.recorder.describe_histogram(
            "emporium_http_request_duration_seconds".into(),
            Some(Unit::Seconds),
            "Time to answer a request, by method and route pattern.".into(),
        );
        self.recorder.describe_histogram(
            "emporium_saga_step_duration_seconds".into(),
            Some(Unit::Seconds),
            "Time of a saga step, by saga and step (placement: reserve, pay, confirm, ...).".into(),
        );
        self.recorder.describe_counter(
            "emporium_saga_step_failures_total".into(),
            None,
            "Saga steps that failed, by saga and step.".into(),
        );
        self.recorder.describe_histogram(
            "emporium_store_operation_duration_seconds".into(),
            Some(Unit::Seconds),
            "Time of a store call, by store and operation: a ledger port method, or a MongoDB command and its collection (names, never values).".into(),
        );
    }
}

impl emporium_resilience::CallObserver for Registry {
    fn observe(&self, store: &'static str, operation: &str, elapsed: Duration, ok: bool) {
        let labels = [
            ("store", store.to_owned()),
            ("operation", operation.to_owned()),
        ];
        self.histogram("emporium_store_operation_duration_seconds", &labels)
            .record(elapsed.as_secs_f64());
        if !ok {
            self.counter("emporium_store_operation_errors_total", &labels)
                .increment(1);
        }
        self.sketch("store", format!("{store} {operation}"), elapsed);
    }

    fn saga_step(&self, saga: &str, step: &str, elapsed: Duration, ok: bool) {
        let labels = [("saga", saga.to_owned()), ("step", step.to_owned())];
        self.histogram("emporium_saga_step_duration_seconds", &labels)
            .record(elapsed.as_secs_f64());
        if !ok {
            self.counter("emporium_saga_step_failures_total", &labels)
                .increment(1);
        }
        self.sketch("saga", format!("{saga} {step}"), elapsed);
    }
}

/// Counters the background tasks update and `/metrics` reads.
#[derive(Default)]
pub struct Metrics {
    /// Where every figure is recorded and rendered from.
    pub registry: std::sync::Arc<Registry>,
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
    reconcile_findings: AtomicU64,
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

    /// What the last reconciliation check found still disagreeing.
    pub fn set_reconcile_findings(&self, n: usize) {
        self.reconcile_findings.store(n as u64, Relaxed);
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

    /// The Prometheus text exposition: the figures kept here set at this moment, then
    /// everything the recorder holds.
    pub fn render(
        &self,
        recommendations: &emporium_domain::service::RecommendationStats,
        pool: Option<PoolUse>,
        catalog_cache: Option<(u64, u64)>,
    ) -> String {
        let r = &self.registry;
        let counters = [
            ("emporium_recovery_passes_total", &self.recovery_passes),
            (
                "emporium_sagas_completed_by_recovery_total",
                &self.sagas_completed_by_recovery,
            ),
            (
                "emporium_sagas_compensated_by_recovery_total",
                &self.sagas_compensated_by_recovery,
            ),
            ("emporium_recovery_failures_total", &self.recovery_failures),
            (
                "emporium_reservations_expired_total",
                &self.reservations_expired,
            ),
            ("emporium_feed_events_total", &self.feed_events),
            (
                "emporium_feed_slow_clients_closed_total",
                &self.feed_slow_clients_closed,
            ),
            (
                "emporium_feed_silent_clients_closed_total",
                &self.feed_silent_clients_closed,
            ),
            ("emporium_search_rebuilds_total", &self.search_rebuilds),
            ("emporium_search_catch_ups_total", &self.search_catch_ups),
            (
                "emporium_recommendation_cache_hits_total",
                &recommendations.hits,
            ),
            (
                "emporium_recommendation_cache_misses_total",
                &recommendations.misses,
            ),
            (
                "emporium_recommendation_computations_total",
                &recommendations.computations,
            ),
            (
                "emporium_recommendation_round_trips_total",
                &recommendations.round_trips,
            ),
        ];
        for (name, value) in counters {
            r.counter(name, &[]).absolute(value.load(Relaxed));
        }
        let gauges = [
            ("emporium_sagas_stuck", self.sagas_stuck.load(Relaxed)),
            ("emporium_feed_position", self.feed_position.load(Relaxed)),
            ("emporium_feed_clients", self.feed_clients.load(Relaxed)),
            ("emporium_search_lag_events", self.search_lag_events()),
            (
                "emporium_search_products",
                self.search_products.load(Relaxed),
            ),
            (
                "emporium_reconcile_findings",
                self.reconcile_findings.load(Relaxed),
            ),
        ];
        for (name, value) in gauges {
            r.gauge(name, &[]).set(value as f64);
        }
        r.gauge("emporium_feed_lag_seconds", &[])
            .set(self.feed_lag_ms.load(Relaxed) as f64 / 1000.0);
        r.gauge("emporium_search_lag_seconds", &[])
            .set(self.search_lag_ms.load(Relaxed) as f64 / 1000.0);
        if let Some(pool) = pool {
            r.gauge(
                "emporium_postgres_pool_connections",
                &[("state", "idle".into())],
            )
            .set(f64::from(pool.idle));
            r.gauge(
                "emporium_postgres_pool_connections",
                &[("state", "busy".into())],
            )
            .set(f64::from(pool.size.saturating_sub(pool.idle)));
            r.gauge("emporium_postgres_pool_max_connections", &[])
                .set(f64::from(pool.max));
        }
        if let Some((hits, misses)) = catalog_cache {
            r.counter("emporium_catalog_cache_hits_total", &[])
                .absolute(hits);
            r.counter("emporium_catalog_cache_misses_total", &[])
                .absolute(misses);
        }
        r.handle.render()
    }

    /// The figures the performance route shows beside the latencies.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "sagas": {
                "stuck": self.sagas_stuck.load(Relaxed),
                "recovery_passes": self.recovery_passes.load(Relaxed),
                "completed_by_recovery": self.sagas_completed_by_recovery.load(Relaxed),
                "compensated_by_recovery": self.sagas_compensated_by_recovery.load(Relaxed),
                "recovery_failures": self.recovery_failures.load(Relaxed),
                "reservations_expired": self.reservations_expired.load(Relaxed),
            },
            "reconcile": {"findings": self.reconcile_findings.load(Relaxed)},
            "events": {
                "feed_position": self.feed_position.load(Relaxed),
                "feed_lag_ms": self.feed_lag_ms.load(Relaxed),
                "feed_clients": self.feed_clients.load(Relaxed),
                "search_lag_events": self.search_lag_events(),
                "search_lag_ms": self.search_lag_ms.load(Relaxed),
            },
        })
    }
}

/// The ledger's connection pool at one moment.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PoolUse {
    /// Connections open.
    pub size: u32,
    /// Of those, not lent out.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

impl Metrics {
    /// Figures read from the stores when `/metrics` is scraped: each replica's lag and
    /// health, and the ledger's deadlocks. Bounded, so a store that does not answer
    /// leaves its figures out rather than holding the scrape.
    pub async fn scrape_stores(
        &self,
        catalog: Option<&std::sync::Arc<dyn emporium_domain::ports::CatalogTopology>>,
        ledger: Option<&std::sync::Arc<dyn emporium_domain::ports::LedgerTopology>>,
    ) {
        const BOUND: Duration = Duration::from_secs(2);
        let r = &self.registry;
        let member = |store: &'static str, name: &str, lag: Option<f64>, healthy: bool| {
            let labels = [("store", store.to_owned()), ("member", name.to_owned())];
            if let Some(lag) = lag {
                r.gauge("emporium_replication_lag_seconds", &labels)
                    .set(lag);
            }
            r.gauge("emporium_replica_healthy", &labels)
                .set(if healthy { 1.0 } else { 0.0 });
        };
        if let Some(catalog) = catalog {
            if let Ok(Ok(Some(set))) = tokio::time::timeout(BOUND, catalog.replica_set()).await {
                for m in &set.members {
                    member("mongodb", &m.name, m.lag_seconds, m.health > 0.0);
                }
            }
        }
        if let Some(ledger) = ledger {
            if let Ok(Ok(status)) = tokio::time::timeout(BOUND, ledger.replication()).await {
                for s in &status.standbys {
                    member("postgres", &s.name, s.lag_seconds, s.healthy);
                }
            }
            if let Ok(Ok(waited)) = tokio::time::timeout(BOUND, ledger.acquire_wait()).await {
                r.gauge("emporium_postgres_pool_acquire_seconds", &[])
                    .set(waited.as_secs_f64());
            }
            if let Ok(Ok(n)) = tokio::time::timeout(BOUND, ledger.deadlocks()).await {
                r.counter("emporium_postgres_deadlocks_total", &[])
                    .absolute(n);
            }
        }
    }
}

/// Records every request: method, matched route pattern (`unmatched` for none; never the
/// raw path, whose ids would make a series per product), status and time.
pub async fn record_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let state = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .cloned();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        state.metrics.registry.request(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response.map_into_boxed_body())
}
