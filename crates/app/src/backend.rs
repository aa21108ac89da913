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

use crate::config::Settings;
use anyhow::Context;
use emporium_domain::ports::{Catalog, Inventory, PaymentGateway, Stores};
use emporium_memory::{
    BroadcastEvents, CacheOptions, CachingCatalog, MemoryCatalog, MemoryIdempotencyKeys,
    MemoryLedger, MemorySagaLog, TestPaymentGateway,
};
use emporium_mongo::MongoCatalog;
use emporium_postgres::{LockingStrategy, PgLedger, PgOptions};
use std::sync::Arc;
use std::time::Duration;

/// How long a health probe may take before its store counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub use fail_fast::FailFast;

/// A named store to check in `GET /api/health`. Probes talk to the adapters directly,
/// never through the cache or [`FailFast`], so health always reports the store itself.
pub enum Probe {
    Catalog(&'static str, Arc<dyn Catalog>),
    Inventory(&'static str, Arc<dyn Inventory>),
}

/// The stores the server runs on, with their health probes and the event bus that
/// subscribers listen to.
pub struct Backend {
    pub stores: Stores,
    pub events: Arc<BroadcastEvents>,
    pub probes: Vec<Probe>,
}

impl Backend {
    /// Every port on memory adapters.
    pub fn memory() -> Backend {
        Backend::assemble(None, None, Arc::new(TestPaymentGateway::default()))
    }

    /// Wires the given real adapters, memory for the rest.
    ///
    /// The MongoDB catalog is wrapped in a [`CachingCatalog`] (invalidated by this
    /// backend's catalog events) and the PostgreSQL ledger in [`FailFast`]; see the module
    /// documentation. Memory adapters cannot be down and are used as they are.
    pub fn assemble(
        catalog: Option<MongoCatalog>,
        ledger: Option<PgLedger>,
        gateway: Arc<dyn PaymentGateway>,
    ) -> Backend {
        let events = Arc::new(BroadcastEvents::default());
        let mut probes = Vec::new();
        let (catalog, suppliers): (Arc<dyn Catalog>, Arc<dyn emporium_domain::ports::Suppliers>) =
            match catalog {
                Some(mongo) => {
                    let mongo = Arc::new(mongo);
                    probes.push(Probe::Catalog("mongodb", mongo.clone()));
                    let cached = CachingCatalog::new(mongo.clone(), CacheOptions::default())
                        .invalidated_by(&events);
                    (Arc::new(cached), mongo)
                }
                None => {
                    let memory = Arc::new(MemoryCatalog::default());
                    (memory.clone(), memory)
                }
            };
        let stores = match ledger {
            Some(pg) => {
                let pg = Arc::new(pg);
                probes.push(Probe::Inventory("postgres", pg.clone()));
                let ledger = Arc::new(FailFast::new(pg, "postgres"));
                Stores {
                    catalog,
                    suppliers,
                    inventory: ledger.clone(),
                    orders: ledger.clone(),
                    payments: ledger.clone(),
                    saga_log: ledger.clone(),
                    idempotency: ledger,
                    gateway,
                    events: events.clone(),
                }
            }
            None => {
                let memory = Arc::new(MemoryLedger::default());
                Stores {
                    catalog,
                    suppliers,
                    inventory: memory.clone(),
                    orders: memory.clone(),
                    payments: memory,
                    saga_log: Arc::new(MemorySagaLog::default()),
                    idempotency: Arc::new(MemoryIdempotencyKeys::default()),
                    gateway,
                    events: events.clone(),
                }
            }
        };
        if probes.len() < 2 {
            probes.push(Probe::Catalog("memory", Arc::new(MemoryCatalog::default())));
        }
        Backend {
            stores,
            events,
            probes,
        }
    }

    /// Connects the stores the settings name (running migrations when asked) and wires them.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Backend> {
        let catalog = match &settings.mongodb_uri {
            Some(uri) => {
                Some(connect_mongo(uri, &settings.mongodb_db, settings.migrate_on_start).await?)
            }
            None => None,
        };
        let ledger = match &settings.postgres_url {
            Some(url) => Some(connect_postgres(url, settings, settings.migrate_on_start).await?),
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
        let gateway: Arc<dyn PaymentGateway> = match &settings.test_gateway_journal {
            Some(path) => Arc::new(
                TestPaymentGateway::with_journal(std::path::Path::new(path))
                    .with_context(|| format!("opening the test gateway journal {path}"))?,
            ),
            None => Arc::new(TestPaymentGateway::default()),
        };
        Ok(Backend::assemble(catalog, ledger, gateway))
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
pub async fn connect_postgres(
    url: &str,
    settings: &Settings,
    migrate: bool,
) -> anyhow::Result<PgLedger> {
    let locking = match settings.locking.as_str() {
        "pessimistic" => LockingStrategy::Pessimistic,
        "optimistic" => LockingStrategy::Optimistic,
        other => anyhow::bail!("EMPORIUM_LOCKING must be pessimistic or optimistic, not `{other}`"),
    };
    let options = PgOptions {
        locking,
        max_connections: settings.postgres_max_connections,
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

/// Fails a store's calls at once while the store is known to be down.
mod fail_fast {
    use emporium_domain::model::{
        NewOrder, Order, OrderId, OrderQuery, OrderStatus, Page, Payment, ProductId, SagaEntry,
        SagaId, SagaRecord, SagaState, Sku, StockLevel, Timestamp, Units,
    };
    use emporium_domain::ports::{
        Cancellation, Holding, IdempotencyClaim, IdempotencyKeys, Inventory, Orders, Payments,
        Release, SagaLog,
    };
    use emporium_domain::{Error, Result};
    use futures::future::BoxFuture;
    use std::future::Future;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// How long [`FailFast`] waits, and for what.
    #[derive(Debug, Clone, Copy)]
    struct Timing {
        /// The longest one call may take. Far above any healthy call (PostgreSQL's pool
        /// acquire and statement timeouts bound those to a few seconds); it only catches a
        /// server that keeps connections open but stopped answering, which no server-side
        /// timeout bounds.
        deadline: Duration,
        /// How long the watcher's ping may take before the store counts as down.
        ping_timeout: Duration,
        /// How often the watcher pings a store that is down: the longest the server keeps
        /// failing fast after the store is back.
        recheck: Duration,
    }

    const TIMING: Timing = Timing {
        deadline: Duration::from_secs(10),
        ping_timeout: Duration::from_secs(2),
        recheck: Duration::from_millis(500),
    };

    /// Calls go through; nothing is known to be wrong.
    const UP: u8 = 0;
    /// A call failed as `Unavailable`; the watcher is finding out why. Calls go through.
    const CHECKING: u8 = 1;
    /// The store did not answer a ping: calls fail at once until it does.
    const DOWN: u8 = 2;

    /// A decorator over the ledger ports that turns an outage into immediate 503s.
    ///
    /// Without it, every request during a PostgreSQL outage waits out the pool's acquire
    /// timeout (sqlx keeps retrying a refused connection until then), so a down database
    /// costs each request seconds and piles requests up. With it, only the calls that run
    /// while the outage is being discovered wait; after that the answer is immediate.
    ///
    /// A call failing as `Unavailable` does not by itself prove an outage (a lock timeout
    /// or a serialization failure maps to `Unavailable` too), so it only starts a watcher
    /// that pings the store: calls fail fast only once the store itself does not answer,
    /// and go through again as soon as a ping succeeds. Every call is also bounded by a
    /// deadline (10 s), so a request never hangs on a store that stopped answering.
    pub struct FailFast<L> {
        inner: Arc<L>,
        store: &'static str,
        state: Arc<AtomicU8>,
        timing: Timing,
    }

    impl<L: Inventory> FailFast<L> {
        /// Wraps `inner`; `store` names it in errors and logs.
        pub fn new(inner: Arc<L>, store: &'static str) -> FailFast<L> {
            FailFast {
                inner,
                store,
                state: Arc::new(AtomicU8::new(UP)),
                timing: TIMING,
            }
        }

        /// True while calls fail at once.
        pub fn is_failing_fast(&self) -> bool {
            self.state.load(Ordering::SeqCst) == DOWN
        }

        async fn call<T>(&self, op: impl Future<Output = Result<T>>) -> Result<T> {
            if self.is_failing_fast() {
                return Err(Error::Unavailable(self.store.to_owned()));
            }
            let deadline = self.timing.deadline;
            let result = tokio::time::timeout(deadline, op)
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!(store = self.store, ?deadline, "store call timed out");
                    Err(Error::Unavailable(self.store.to_owned()))
                });
            if matches!(result, Err(Error::Unavailable(_))) {
                self.suspect();
            }
            result
        }

        /// Starts the watcher, unless one already runs.
        fn suspect(&self) {
            if self
                .state
                .compare_exchange(UP, CHECKING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                tokio::spawn(watch(
                    self.inner.clone(),
                    self.state.clone(),
                    self.store,
                    self.timing,
                ));
            }
        }
    }

    /// Pings until the store answers, failing calls fast meanwhile; ends when it answers.
    async fn watch<L: Inventory>(
        inner: Arc<L>,
        state: Arc<AtomicU8>,
        store: &'static str,
        timing: Timing,
    ) {
        loop {
            let answered = matches!(
                tokio::time::timeout(timing.ping_timeout, inner.ping()).await,
                Ok(Ok(()))
            );
            if answered {
                if state.swap(UP, Ordering::SeqCst) == DOWN {
                    tracing::info!(store, "store answers again; its calls go through");
                }
                return;
            }
            if state.swap(DOWN, Ordering::SeqCst) != DOWN {
                tracing::warn!(
                    store,
                    "store is down; failing its calls at once until it answers"
                );
            }
            tokio::time::sleep(timing.recheck).await;
        }
    }

    /// Implements port methods by running the inner adapter's through [`FailFast::call`].
    /// Written out because the ports are `async_trait` traits: each method takes one
    /// lifetime for `&self`, one per reference argument (listed in `<...>`, in order), and
    /// one for the returned future.
    macro_rules! forward {
        ($port:ident: $(fn $name:ident $(<$($lt:lifetime),+>)? ($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
            $(
                fn $name<'s, $($($lt,)+)? 'f>(&'s self, $($arg: $ty),*) -> BoxFuture<'f, Result<$ret>>
                where
                    's: 'f,
                    $($($lt: 'f,)+)?
                    Self: 'f,
                {
                    Box::pin(self.call(<L as $port>::$name(&*self.inner, $($arg),*)))
                }
            )*
        };
    }

    impl<L: Inventory> Inventory for FailFast<L> {
        forward! { Inventory:
            fn create_stock<'a>(sku: &'a Sku, product: ProductId, on_hand: Units) -> StockLevel;
            fn set_available<'a>(sku: &'a Sku, available: Units) -> StockLevel;
            fn stock<'a>(sku: &'a Sku) -> Option<StockLevel>;
            fn stock_many<'a>(skus: &'a [Sku]) -> Vec<StockLevel>;
            fn remove_stock<'a>(sku: &'a Sku) -> Option<StockLevel>;
            fn levels<'a>(after: Option<&'a Sku>, limit: u32) -> Vec<StockLevel>;
            fn repair_reserved<'a>(sku: &'a Sku, reserved: Units) -> StockLevel;
            fn remove_unreserved<'a>(sku: &'a Sku) -> Option<StockLevel>;
            fn ping() -> ();
        }
    }

    impl<L: Inventory + Orders> Orders for FailFast<L> {
        forward! { Orders:
            fn create_pending<'a>(order: &'a NewOrder) -> Order;
            fn confirm(id: OrderId) -> Order;
            fn fail(id: OrderId) -> Order;
            fn cancel(id: OrderId) -> Cancellation;
            fn advance(id: OrderId, to: OrderStatus) -> Order;
            fn get(id: OrderId) -> Option<Order>;
            fn list<'a>(query: &'a OrderQuery) -> Page<Order>;
            fn reserved_by_pending() -> Vec<(Sku, u64)>;
            fn holding<'a>(sku: &'a Sku) -> Option<Holding>;
            fn release_leaked<'a>(sku: &'a Sku) -> Option<Release>;
            fn payment_mismatches(after: Option<OrderId>, limit: u32) -> Vec<Order>;
        }
    }

    impl<L: Inventory + Payments> Payments for FailFast<L> {
        forward! { Payments:
            fn record<'a>(payment: &'a Payment) -> Payment;
            fn for_order(order: OrderId) -> Option<Payment>;
        }
    }

    impl<L: Inventory + SagaLog> SagaLog for FailFast<L> {
        forward! { SagaLog:
            fn begin<'a>(saga: &'a SagaRecord) -> ();
            fn append<'a>(id: SagaId, entry: &'a SagaEntry, state: SagaState) -> ();
            fn get(id: SagaId) -> Option<SagaRecord>;
            fn in_state(state: SagaState, limit: u32) -> Vec<SagaRecord>;
        }
    }

    impl<L: Inventory + IdempotencyKeys> IdempotencyKeys for FailFast<L> {
        forward! { IdempotencyKeys:
            fn claim<'a, 'b>(key: &'a str, fingerprint: &'b str, proposed: uuid::Uuid, lease: Duration) -> IdempotencyClaim;
            fn complete<'a, 'b>(key: &'a str, status: u16, body: &'b serde_json::Value) -> ();
            fn release<'a>(key: &'a str, resume: uuid::Uuid) -> ();
            fn purge(cutoff: Timestamp) -> u64;
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use emporium_domain::model::{ProductId, Sku, StockLevel, Units};
        use std::sync::atomic::{AtomicBool, AtomicUsize};

        /// An inventory whose calls and pings can be made to fail or hang; counts calls.
        #[derive(Default)]
        struct Ledger {
            calls: AtomicUsize,
            /// Calls answer `Unavailable` (the store is down, or a lock wait timed out).
            failing: AtomicBool,
            /// Calls never answer.
            hanging: AtomicBool,
            /// Pings answer `Unavailable` (the store itself is down).
            down: AtomicBool,
        }

        impl Ledger {
            fn calls(&self) -> usize {
                self.calls.load(Ordering::SeqCst)
            }
            fn set(flag: &AtomicBool, on: bool) {
                flag.store(on, Ordering::SeqCst);
            }
        }

        fn unavailable<T>() -> Result<T> {
            Err(Error::Unavailable("test".into()))
        }

        #[async_trait::async_trait]
        impl Inventory for Ledger {
            async fn stock(&self, _: &Sku) -> Result<Option<StockLevel>> {
                self.calls.fetch_add(1, Ordering::SeqCst);
                if self.hanging.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                if self.failing.load(Ordering::SeqCst) {
                    return unavailable();
                }
                Ok(None)
            }
            async fn ping(&self) -> Result<()> {
                if self.down.load(Ordering::SeqCst) {
                    return unavailable();
                }
                Ok(())
            }
            async fn create_stock(&self, _: &Sku, _: ProductId, _: Units) -> Result<StockLevel> {
                unimplemented!()
            }
            async fn set_available(&self, _: &Sku, _: Units) -> Result<StockLevel> {
                unimplemented!()
            }
            async fn stock_many(&self, _: &[Sku]) -> Result<Vec<StockLevel>> {
                unimplemented!()
            }
            async fn remove_stock(&self, _: &Sku) -> Result<Option<StockLevel>> {
                unimplemented!()
            }
            async fn levels(&self, _: Option<&Sku>, _: u32) -> Result<Vec<StockLevel>> {
                unimplemented!()
            }
            async fn repair_reserved(&self, _: &Sku, _: Units) -> Result<StockLevel> {
                unimplemented!()
            }
            async fn remove_unreserved(&self, _: &Sku) -> Result<Option<StockLevel>> {
                unimplemented!()
            }
        }

        fn guard() -> (Arc<Ledger>, FailFast<Ledger>) {
            let ledger = Arc::new(Ledger::default());
            let mut guard = FailFast::new(ledger.clone(), "test");
            guard.timing = Timing {
                deadline: Duration::from_millis(100),
                ping_timeout: Duration::from_millis(100),
                recheck: Duration::from_millis(20),
            };
            (ledger, guard)
        }

        fn sku() -> Sku {
            Sku::parse("FF-1").expect("sku")
        }

        /// Waits (bounded) until the watcher has settled `want`.
        async fn until(guard: &FailFast<Ledger>, want: bool) {
            for _ in 0..200 {
                if guard.is_failing_fast() == want && guard.state.load(Ordering::SeqCst) != CHECKING
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("failing fast never became {want}");
        }

        #[tokio::test]
        async fn an_outage_fails_calls_at_once_until_the_store_answers_again() {
            let (ledger, guard) = guard();
            Ledger::set(&ledger.failing, true);
            Ledger::set(&ledger.down, true);
            assert!(matches!(
                guard.stock(&sku()).await,
                Err(Error::Unavailable(_))
            ));
            until(&guard, true).await;
            let calls = ledger.calls();
            for _ in 0..5 {
                assert!(
                    matches!(guard.stock(&sku()).await, Err(Error::Unavailable(s)) if s == "test")
                );
            }
            assert_eq!(
                ledger.calls(),
                calls,
                "no call reaches a store that is down"
            );

            Ledger::set(&ledger.failing, false);
            Ledger::set(&ledger.down, false);
            until(&guard, false).await;
            assert_eq!(guard.stock(&sku()).await.expect("back"), None);
            assert_eq!(ledger.calls(), calls + 1);
        }

        #[tokio::test]
        async fn an_unavailable_call_from_a_store_that_answers_pings_changes_nothing() {
            // A lock timeout or a lost serialization race is `Unavailable` too.
            let (ledger, guard) = guard();
            Ledger::set(&ledger.failing, true);
            assert!(guard.stock(&sku()).await.is_err());
            until(&guard, false).await;
            Ledger::set(&ledger.failing, false);
            assert_eq!(guard.stock(&sku()).await.expect("through"), None);
            assert_eq!(ledger.calls(), 2);
        }

        #[tokio::test]
        async fn a_call_that_never_answers_ends_at_the_deadline() {
            let (ledger, guard) = guard();
            Ledger::set(&ledger.hanging, true);
            let started = std::time::Instant::now();
            assert!(matches!(
                guard.stock(&sku()).await,
                Err(Error::Unavailable(_))
            ));
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }
}
