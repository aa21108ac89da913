//! Picks an adapter for each store from the configuration and wires them into [`Stores`].
//!
//! Each store is chosen on its own: MongoDB for the catalog when `EMPORIUM_MONGODB_URI` is
//! set, PostgreSQL for the ledger when `EMPORIUM_POSTGRES_URL` is set, memory otherwise
//! (and the server says so loudly: that data does not survive a restart).
//!
//! The real stores are wired so that one of them being down costs as little as possible:
//!
//! * **MongoDB down.** The catalog sits behind a [`CachingCatalog`], so orders for products
//!   read in the last minute are still priced and placed; everything else on the catalog
//!   answers 503.
//! * **PostgreSQL down.** The ledger sits behind [`FailFast`], which, once a ping confirms
//!   the outage, fails every ledger call at once (503 with `Retry-After`) instead of letting
//!   each request wait out the pool's acquire timeout, until a ping succeeds again.
//!   Browsing keeps working without stock figures (see `CatalogService::list`).
//!
//! Both recover by themselves: the `mongodb` driver's monitor and sqlx's pool (which tests
//! every pooled connection before handing it out) reconnect once the server is back.

use crate::config::{GatewayChoice, Settings};
use anyhow::Context;
use emporium_domain::ports::{
    Catalog, CatalogChanges, CatalogLoad, EventLog, Inventory, LedgerLoad, PaymentGateway,
    StoreBackup, Stores,
};
use emporium_gateway::{HttpGatewayConfig, HttpPaymentGateway};
use emporium_memory::{
    MemoryCatalog, MemoryEventLog, MemoryIdempotencyKeys, MemoryLedger, TestPaymentGateway,
};
use emporium_mongo::MongoCatalog;
use emporium_postgres::{FeedWakeup, LockingStrategy, PgLedger, PgOptions};
use emporium_resilience::{BoundedFeed, CacheOptions, CachingCatalog};
use std::sync::Arc;
use std::time::Duration;

/// How long a health probe may take before its store counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub use emporium_resilience::FailFast;

/// A named store to check in `GET /api/health`. Probes talk to the adapters directly,
/// never through the cache or [`FailFast`], so health always reports the store itself.
pub enum Probe {
    Catalog(&'static str, Arc<dyn Catalog>),
    Inventory(&'static str, Arc<dyn Inventory>),
}

/// The stores the server runs on, with their health probes and the catalog cache the
/// event feed keeps fresh.
pub struct Backend {
    pub stores: Stores,
    pub cache: Option<Arc<CachingCatalog>>,
    /// The catalog itself, without the cache: for readers that must not fill the cache
    /// with everything they read (the search index's upkeep).
    pub uncached_catalog: Arc<dyn Catalog>,
    pub probes: Vec<Probe>,
    /// Each store's side of backups: the memory set's snapshot, pgBackRest, the MongoDB
    /// export (ADR 0015).
    pub backups: Vec<Arc<dyn StoreBackup>>,
    /// Each store's side of snapshots: copies of the data directories (ADR 0024).
    pub snapshots: Vec<Arc<dyn emporium_domain::ports::StoreSnapshot>>,
    /// The reports whose catch-up folds orders into the rollup: the primary's, even when
    /// `stores.reports` reads from a standby.
    pub rollup: Arc<dyn emporium_domain::ports::SalesReports>,
    /// Where product listings read the catalog, when read routing sends them to MongoDB
    /// secondaries (`EMPORIUM_MONGODB_BROWSE_READ_PREFERENCE`).
    pub browse_catalog: Option<Arc<dyn Catalog>>,
    /// The server's figures; the ledger's fail-fast wrapper reports every call into them.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The catalog's replica set and shards, when the catalog is MongoDB (ADR 0025).
    pub catalog_topology: Option<Arc<dyn emporium_domain::ports::CatalogTopology>>,
    /// The ledger's standbys and slots, when the ledger is PostgreSQL (ADR 0025).
    pub ledger_topology: Option<Arc<dyn emporium_domain::ports::LedgerTopology>>,
    /// The ledger's reports without the fail-fast wrapper and its per-call deadline: for
    /// a fold of a whole loaded history (`emporium seed`), which takes minutes.
    pub unbounded_reports: Arc<dyn emporium_domain::ports::SalesReports>,
}

/// The catalog as clients read it (cached when it is MongoDB), the catalog itself,
/// suppliers, and the catalog's change history.
type CatalogPorts = (
    Arc<dyn Catalog>,
    Arc<dyn Catalog>,
    Arc<dyn emporium_domain::ports::Suppliers>,
    Arc<dyn CatalogChanges>,
    Arc<dyn emporium_domain::ports::OrderQueue>,
    Arc<dyn emporium_domain::ports::Customers>,
    Arc<dyn emporium_domain::ports::Categories>,
    Arc<dyn emporium_domain::ports::Carts>,
    Arc<dyn emporium_domain::ports::Reviews>,
);

impl Backend {
    /// Every port on memory adapters.
    pub fn memory() -> Backend {
        Backend::assemble(None, None, Arc::new(TestPaymentGateway::default()))
    }

    /// Wires the given real adapters, memory for the rest.
    ///
    /// The MongoDB catalog is wrapped in a [`CachingCatalog`] (invalidated by the event
    /// feed) and the PostgreSQL ledger in [`FailFast`]; see the module
    /// documentation. Memory adapters cannot be down and are used as they are.
    pub fn assemble(
        catalog: Option<MongoCatalog>,
        ledger: Option<PgLedger>,
        gateway: Arc<dyn PaymentGateway>,
    ) -> Backend {
        let catalog_topology = catalog.as_ref().map(|c| {
            Arc::new(emporium_mongo::MongoTopology::new(c.database().clone()))
                as Arc<dyn emporium_domain::ports::CatalogTopology>
        });
        let ledger_topology = ledger.as_ref().map(|l| {
            Arc::new(emporium_postgres::PgTopology::new(l.pool().clone()))
                as Arc<dyn emporium_domain::ports::LedgerTopology>
        });
        let metrics = Arc::new(crate::metrics::Metrics::default());
        if let Some(catalog) = &catalog {
            let registry = metrics.registry.clone();
            catalog.observe_commands(Arc::new(move |operation, elapsed, ok| {
                emporium_resilience::CallObserver::observe(
                    &*registry, "mongodb", operation, elapsed, ok,
                )
            }));
        }
        let mut probes = Vec::new();
        let mut cache = None;
        let (mut memory_catalog, mut memory_ledger) = (None, None);
        let catalog_load: Arc<dyn CatalogLoad>;
        let ledger_load: Arc<dyn LedgerLoad>;
        let unbounded_reports: Arc<dyn emporium_domain::ports::SalesReports>;
        let (
            catalog,
            uncached_catalog,
            suppliers,
            catalog_changes,
            order_queue,
            customers,
            categories,
            carts,
            reviews,
        ): CatalogPorts = match catalog {
            Some(mongo) => {
                let mongo = Arc::new(mongo);
                probes.push(Probe::Catalog("mongodb", mongo.clone()));
                let cached = Arc::new(CachingCatalog::new(mongo.clone(), CacheOptions::default()));
                cache = Some(cached.clone());
                catalog_load = mongo.clone();
                (
                    cached,
                    mongo.clone(),
                    mongo.clone(),
                    mongo.clone(),
                    mongo.clone(),
                    mongo.clone(),
                    mongo.clone(),
                    mongo.clone(),
                    mongo,
                )
            }
            None => {
                let memory = Arc::new(MemoryCatalog::default());
                memory_catalog = Some(memory.clone());
                let customers = Arc::new(emporium_memory::MemoryCustomers::default());
                let reviews = Arc::new(emporium_memory::MemoryReviews::default());
                catalog_load = Arc::new(emporium_memory::MemoryCatalogLoad::new(
                    memory.clone(),
                    customers.clone(),
                    reviews.clone(),
                ));
                (
                    memory.clone(),
                    memory.clone(),
                    memory.clone(),
                    memory.clone(),
                    Arc::new(emporium_memory::MemoryOrderQueue::default()),
                    customers,
                    memory,
                    Arc::new(emporium_memory::MemoryCarts::default()),
                    reviews,
                )
            }
        };
        let stores = match ledger {
            Some(pg) => {
                let pg = Arc::new(pg);
                probes.push(Probe::Inventory("postgres", pg.clone()));
                ledger_load = pg.clone();
                unbounded_reports = pg.clone();
                let ledger = Arc::new(
                    FailFast::new(pg.clone(), "postgres").with_observer(metrics.registry.clone()),
                );
                Stores {
                    catalog,
                    suppliers,
                    inventory: ledger.clone(),
                    orders: ledger.clone(),
                    payments: ledger.clone(),
                    saga_log: ledger.clone(),
                    audit: ledger.clone(),
                    reports: ledger.clone(),
                    warehouses: ledger.clone(),
                    idempotency: ledger,
                    gateway,
                    // Raw: an audit write is not order traffic, and its failure is
                    // logged by the admin guard rather than cut short.
                    admin_audit: pg.clone(),
                    // Without the breaker: the feed retries on its own and must not be cut
                    // off by the fail-fast breaker's view of order traffic. With the
                    // deadline: a swallowed call would stop the relay for good.
                    feed: Arc::new(BoundedFeed::new(pg, "postgres")) as Arc<dyn EventLog>,
                    catalog_changes,
                    order_queue,
                    customers,
                    categories,
                    carts: carts.clone(),
                    reviews: reviews.clone(),
                    catalog_load: catalog_load.clone(),
                    ledger_load,
                }
            }
            None => {
                let feed = Arc::new(MemoryEventLog::default());
                let memory = Arc::new(MemoryLedger::with_feed(feed.clone()));
                memory_ledger = Some(memory.clone());
                ledger_load = memory.clone();
                unbounded_reports = memory.clone();
                Stores {
                    catalog,
                    suppliers,
                    inventory: memory.clone(),
                    orders: memory.clone(),
                    payments: memory.clone(),
                    saga_log: memory.clone(),
                    audit: memory.clone(),
                    reports: memory.clone(),
                    warehouses: memory,
                    idempotency: Arc::new(MemoryIdempotencyKeys::default()),
                    admin_audit: Arc::new(emporium_memory::MemoryAdminAudit::default()),
                    gateway,
                    feed,
                    catalog_changes,
                    order_queue,
                    customers,
                    categories,
                    carts: carts.clone(),
                    reviews: reviews.clone(),
                    catalog_load: catalog_load.clone(),
                    ledger_load,
                }
            }
        };
        if probes.len() < 2 {
            probes.push(Probe::Catalog("memory", Arc::new(MemoryCatalog::default())));
        }
        let mut backups: Vec<Arc<dyn StoreBackup>> = Vec::new();
        let mut snapshots: Vec<Arc<dyn emporium_domain::ports::StoreSnapshot>> = Vec::new();
        if memory_catalog.is_some() || memory_ledger.is_some() {
            let memory = Arc::new(emporium_memory::MemoryBackup::new(
                memory_catalog,
                memory_ledger,
            ));
            backups.push(memory.clone());
            snapshots.push(memory);
        }
        let rollup = stores.reports.clone();
        Backend {
            stores,
            cache,
            uncached_catalog,
            probes,
            backups,
            snapshots,
            rollup,
            browse_catalog: None,
            metrics,
            catalog_topology,
            ledger_topology,
            unbounded_reports,
        }
    }

    /// Connects the stores the settings name (running migrations when asked) and wires them.
    /// `feed_wakeup` as for [`connect_postgres`].
    pub async fn from_settings(
        settings: &Settings,
        feed_wakeup: FeedWakeup,
    ) -> anyhow::Result<Backend> {
        let wait = std::time::Duration::from_secs(settings.startup_wait_secs);
        let catalog = match &settings.mongodb_uri {
            Some(uri) => Some(
                while_unavailable("MongoDB", wait, || {
                    connect_mongo(uri, &settings.mongodb_db, settings.migrate_on_start)
                })
                .await?,
            ),
            None => None,
        };
        let ledger = match &settings.postgres_url {
            Some(url) => Some(
                while_unavailable("PostgreSQL", wait, || {
                    connect_postgres(url, settings, settings.migrate_on_start, feed_wakeup)
                })
                .await?,
            ),
            None => None,
        };
        match (catalog.is_some(), ledger.is_some()) {
            (true, true) => {
                tracing::info!("serving from MongoDB (catalog) and PostgreSQL (ledger)")
            }
            (false, false) => tracing::warn!(
                "no EMPORIUM_POSTGRES_URL or EMPORIUM_MONGODB_URI configured: serving from the \
                 in-memory stores; data does not survive a restart"
            ),
            (true, false) => tracing::warn!(
                "no EMPORIUM_POSTGRES_URL: inventory, orders and payments are in memory and do \
                 not survive a restart"
            ),
            (false, true) => tracing::warn!(
                "no EMPORIUM_MONGODB_URI: the catalog is in memory and does not survive a restart"
            ),
        }
        let gateway = payment_gateway(settings.gateway()?)?;
        let pg_backup = ledger
            .as_ref()
            .map(|pg| crate::backups::postgres_backup(pg, settings));
        let pg_snapshot = ledger.as_ref().map(|pg| {
            Arc::new(emporium_postgres::PgSnapshot::new(
                pg.pool().clone(),
                settings
                    .backup_pg_data
                    .as_ref()
                    .map(std::path::PathBuf::from),
            )) as Arc<dyn emporium_domain::ports::StoreSnapshot>
        });
        let mongo_db = catalog.as_ref().map(|c| c.database().clone());
        let browse = match (&catalog, settings.mongodb_browse_read_preference.as_str()) {
            (Some(catalog), preference) if preference != "primary" => {
                tracing::info!(
                    read_preference = preference,
                    "product listings read from MongoDB with this read preference"
                );
                Some(catalog.reading_from(preference)?)
            }
            _ => None,
        };
        let standby = match (&ledger, &settings.postgres_standby_url) {
            (Some(_), Some(url)) => {
                let standby = connect_postgres(url, settings, false, FeedWakeup::Notify)
                    .await
                    .context(
                        "connecting to the PostgreSQL standby (EMPORIUM_POSTGRES_STANDBY_URL)",
                    )?
                    .as_replica();
                tracing::info!("reports read from the PostgreSQL standby");
                Some(standby)
            }
            _ => None,
        };
        let mut backend = Backend::assemble(catalog, ledger, gateway);
        if let Some(browse) = browse {
            backend.browse_catalog = Some(Arc::new(browse));
        }
        if let Some(standby) = standby {
            backend.stores.reports = Arc::new(
                FailFast::new(Arc::new(standby), "postgres standby")
                    .with_observer(backend.metrics.registry.clone()),
            );
        }
        backend.backups.extend(pg_backup);
        backend.snapshots.extend(pg_snapshot);

        if let Some(db) = mongo_db {
            backend
                .backups
                .push(Arc::new(emporium_mongo::MongoBackup::new(db.clone())));
            backend
                .snapshots
                .push(Arc::new(emporium_mongo::MongoSnapshot::new(
                    db,
                    settings
                        .backup_mongodb_data
                        .as_ref()
                        .map(std::path::PathBuf::from),
                )));
        }
        Ok(backend)
    }

    /// Runs every probe at once, each bounded by a timeout.
    pub async fn check_health(&self) -> Vec<(&'static str, Result<(), String>)> {
        let checks = self.probes.iter().map(|probe| async move {
            let (name, result) = match probe {
                Probe::Catalog(name, c) => {
                    (*name, tokio::time::timeout(PROBE_TIMEOUT, c.ping()).await)
                }
                Probe::Inventory(name, i) => {
                    (*name, tokio::time::timeout(PROBE_TIMEOUT, i.ping()).await)
                }
            };
            let result = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".to_string()),
            };
            (name, result)
        });
        futures::future::join_all(checks).await
    }
}

/// Runs `connect` again while it fails because the store is unavailable (down, restarting,
/// refusing connections), for at most `wait`; any other error, or the last one, is
/// returned. A process restarted during a store's outage (a crash, a deploy) then comes
/// up with the store instead of exiting.
pub async fn while_unavailable<T, F, Fut>(
    store: &str,
    wait: std::time::Duration,
    mut connect: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match connect().await {
            Ok(connected) => return Ok(connected),
            Err(e)
                if started.elapsed() < wait
                    && e.chain().any(|cause| {
                        matches!(
                            cause.downcast_ref::<emporium_domain::Error>(),
                            Some(emporium_domain::Error::Unavailable(_))
                        )
                    }) =>
            {
                tracing::warn!(
                    store,
                    error = %e,
                    waited_secs = started.elapsed().as_secs(),
                    "store unavailable at startup; retrying (EMPORIUM_STARTUP_WAIT_SECS)"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Connects the catalog; with `init`, creates collections, validators and indexes.
pub async fn connect_mongo(uri: &str, db: &str, init: bool) -> anyhow::Result<MongoCatalog> {
    let catalog = MongoCatalog::connect(uri, db)
        .await
        .with_context(|| format!("connecting to MongoDB database `{db}`"))?;
    if init {
        let mode = catalog
            .init()
            .await
            .context("initialising MongoDB collections")?;
        tracing::info!(database = db, search = ?mode, "catalog on MongoDB");
    }
    Ok(catalog)
}

/// Connects the ledger; with `migrate`, applies the schema migrations.
/// `feed_wakeup`: [`FeedWakeup::InProcess`] for a server (it runs the event feed's relay),
/// [`FeedWakeup::Notify`] for a tool.
pub async fn connect_postgres(
    url: &str,
    settings: &Settings,
    migrate: bool,
    feed_wakeup: FeedWakeup,
) -> anyhow::Result<PgLedger> {
    let locking = match settings.locking.as_str() {
        "pessimistic" => LockingStrategy::Pessimistic,
        "optimistic" => LockingStrategy::Optimistic,
        other => anyhow::bail!("EMPORIUM_LOCKING must be pessimistic or optimistic, not `{other}`"),
    };
    let options = PgOptions {
        locking,
        max_connections: settings.postgres_pool_size(),
        feed_wakeup,
        ..PgOptions::default()
    };
    let ledger = PgLedger::connect(url, options)
        .await
        .context("connecting to PostgreSQL")?;
    if migrate {
        ledger
            .migrate()
            .await
            .context("applying PostgreSQL migrations")?;
    }
    tracing::info!(?locking, "ledger on PostgreSQL");
    Ok(ledger)
}

/// The payment gateway `choice` names.
pub fn payment_gateway(choice: GatewayChoice) -> anyhow::Result<Arc<dyn PaymentGateway>> {
    Ok(match choice {
        GatewayChoice::Http {
            url,
            api_key,
            timeout,
            attempts,
        } => {
            let config = HttpGatewayConfig {
                timeout,
                attempts,
                ..HttpGatewayConfig::new(url.clone(), api_key)
            };
            tracing::info!(gateway = %url, "payments through the HTTP gateway");
            Arc::new(
                HttpPaymentGateway::new(config)
                    .with_context(|| format!("the payment gateway at {url}"))?,
            )
        }
        GatewayChoice::Test { journal, latency } => {
            tracing::warn!(
                "payments through the TEST gateway: tok_visa is approved, tok_chargeDeclined \
                 declined, and no money moves (set EMPORIUM_GATEWAY_URL for a real one)"
            );
            let gateway = match &journal {
                Some(path) => TestPaymentGateway::with_journal(std::path::Path::new(path))
                    .with_context(|| format!("opening the test gateway journal {path}"))?,
                None => TestPaymentGateway::default(),
            };
            Arc::new(gateway.with_latency(latency))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::while_unavailable;
    use emporium_domain::Error;
    use std::time::Duration;

    #[tokio::test]
    async fn a_store_down_at_startup_is_waited_for() {
        let mut attempts = 0;
        let connected = while_unavailable("PostgreSQL", Duration::from_secs(10), || {
            attempts += 1;
            let attempt = attempts;
            async move {
                if attempt < 3 {
                    Err(anyhow::Error::new(Error::Unavailable("postgres".into()))
                        .context("connecting to PostgreSQL"))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(connected, 3);
    }

    #[tokio::test]
    async fn other_errors_and_a_store_down_too_long_fail() {
        let mut attempts = 0;
        let wrong = while_unavailable("MongoDB", Duration::from_secs(10), || {
            attempts += 1;
            async { Err::<(), _>(anyhow::Error::new(Error::Internal("invalid URI".into()))) }
        })
        .await;
        assert!(wrong.is_err());
        assert_eq!(attempts, 1, "a wrong setting is not retried");

        let down = while_unavailable("MongoDB", Duration::from_millis(300), || async {
            Err::<(), _>(anyhow::Error::new(Error::Unavailable("mongodb".into())))
        })
        .await;
        assert!(down.unwrap_err().to_string().contains("unavailable"));
    }
}
