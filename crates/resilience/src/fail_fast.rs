//! Fails a store's calls at once while the store is known to be down.
use emporium_domain::model::{
    CategorySales, NewOrder, Order, OrderId, OrderQuery, OrderStatus, Page, PageRequest, Payment,
    ProductId, ProductSales, SagaId, SagaRecord, SagaState, SalesWindow, Sku, StockLevel,
    SupplierSales, Timestamp, Units,
};
use emporium_domain::ports::{
    Cancellation, Holding, IdempotencyClaim, IdempotencyKeys, Inventory, LedgerAudit, Orders,
    Payments, Release, SagaLog, SalesReports, Settlement, Warehouses,
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

/// The longest one store call may take (see `Timing::deadline`).
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);

const TIMING: Timing = Timing {
    deadline: CALL_DEADLINE,
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
    observer: Option<Arc<dyn CallObserver>>,
}

/// Told of every call through a [`FailFast`]: which store, which port method, how long
/// it took and whether it succeeded (an answer that is an error of the request itself,
/// such as a conflict, counts as an answer). Names only, never arguments.
pub trait CallObserver: Send + Sync + 'static {
    fn observe(&self, store: &'static str, operation: &str, elapsed: std::time::Duration, ok: bool);

    /// A saga step ended (the saga log is told; ADR 0026). Nothing by default.
    fn saga_step(&self, _saga: &str, _step: &str, _elapsed: std::time::Duration, _ok: bool) {}
}

impl<L: Inventory> FailFast<L> {
    /// Wraps `inner`; `store` names it in errors and logs.
    pub fn new(inner: Arc<L>, store: &'static str) -> FailFast<L> {
        FailFast {
            inner,
            store,
            state: Arc::new(AtomicU8::new(UP)),
            timing: TIMING,
            observer: None,
        }
    }

    /// Reports every call to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> FailFast<L> {
        self.observer = Some(observer);
        self
    }

    /// True while calls fail at once.
    pub fn is_failing_fast(&self) -> bool {
        self.state.load(Ordering::SeqCst) == DOWN
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.is_failing_fast() {
            return Err(Error::Unavailable(self.store.to_owned()));
        }
        let started = std::time::Instant::now();
        let deadline = self.timing.deadline;
        let span = tracing::info_span!("store.call", store = self.store, operation);
        let result = tokio::time::timeout(deadline, tracing::Instrument::instrument(op, span))
            .await
            .unwrap_or_else(|_| {
                tracing::warn!(store = self.store, ?deadline, "store call timed out");
                Err(Error::Unavailable(self.store.to_owned()))
            });
        if matches!(result, Err(Error::Unavailable(_))) {
            self.suspect();
        }
        if let Some(observer) = &self.observer {
            let ok = !matches!(result, Err(Error::Unavailable(_) | Error::Internal(_)));
            observer.observe(self.store, operation, started.elapsed(), ok);
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
                Box::pin(self.call(stringify!($name), <L as $port>::$name(&*self.inner, $($arg),*)))
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
        fn reserve<'a, 'b>(order: &'a NewOrder, saga: &'b SagaRecord) -> Order;
        fn settle<'a, 'b>(id: OrderId, settlement: &'a Settlement, saga: &'b SagaRecord) -> Order;
        fn cancel(id: OrderId) -> Cancellation;
        fn advance(id: OrderId, to: OrderStatus) -> Order;
        fn record_failed<'a, 'b>(order: &'a NewOrder, reason: &'b str) -> Order;
        fn anonymise<'a>(customer: &'a emporium_domain::model::CustomerId) -> u64;
        fn get(id: OrderId) -> Option<Order>;
        fn list<'a>(query: &'a OrderQuery) -> Page<Order>;
    }
}

impl<L: Inventory + LedgerAudit> LedgerAudit for FailFast<L> {
    forward! { LedgerAudit:
        fn reserved_by_pending() -> Vec<(Sku, u64)>;
        fn holding<'a>(sku: &'a Sku) -> Option<Holding>;
        fn release_leaked<'a>(sku: &'a Sku) -> Option<Release>;
        fn payment_mismatches(after: Option<OrderId>, limit: u32) -> Vec<Order>;
        fn warehouse_mismatches<'a>(after: Option<&'a Sku>, limit: u32) -> Vec<emporium_domain::model::WarehouseMismatch>;
        fn resync_warehouses<'a>(sku: &'a Sku) -> Option<emporium_domain::model::WarehouseMismatch>;
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
        fn save<'a>(saga: &'a SagaRecord) -> ();
        fn get(id: SagaId) -> Option<SagaRecord>;
        fn in_state(state: SagaState, limit: u32) -> Vec<SagaRecord>;
    }

    fn step_finished(
        &self,
        kind: emporium_domain::model::SagaKind,
        step: &'static str,
        elapsed: std::time::Duration,
        ok: bool,
    ) {
        self.inner.step_finished(kind, step, elapsed, ok);
        if let Some(observer) = &self.observer {
            observer.saga_step(&kind.to_string(), step, elapsed, ok);
        }
    }
}

impl<L: Inventory + SalesReports> SalesReports for FailFast<L> {
    forward! { SalesReports:
        fn sales_by_product(window: SalesWindow, page: PageRequest) -> Page<ProductSales>;
        fn sales_by_category(window: SalesWindow, page: PageRequest) -> Page<CategorySales>;
        fn sales_by_supplier(window: SalesWindow, page: PageRequest) -> Page<SupplierSales>;
        fn low_stock(at_most: Units, page: PageRequest) -> Page<StockLevel>;
        fn purchase_affinity<'a>(customer: &'a emporium_domain::model::CustomerId, limit: u32) -> emporium_domain::model::PurchaseAffinity;
        fn catch_up() -> u64;
    }
}

impl<L: Inventory + Warehouses> Warehouses for FailFast<L> {
    forward! { Warehouses:
        fn create_warehouse<'a>(warehouse: &'a emporium_domain::model::Warehouse) -> ();
        fn warehouses(page: PageRequest) -> Page<emporium_domain::model::Warehouse>;
        fn warehouse_levels<'a>(sku: &'a Sku) -> Vec<emporium_domain::model::WarehouseLevel>;
        fn set_warehouse_available<'a>(sku: &'a Sku, warehouse: emporium_domain::model::WarehouseId, available: Units) -> StockLevel;
        fn transfer<'a>(transfer: &'a emporium_domain::model::Transfer) -> Vec<emporium_domain::model::WarehouseLevel>;
        fn low_stock_in(warehouse: emporium_domain::model::WarehouseId, at_most: Units, page: PageRequest) -> Page<emporium_domain::model::WarehouseLevel>;
    }
}

impl<L: Inventory + IdempotencyKeys> IdempotencyKeys for FailFast<L> {
    forward! { IdempotencyKeys:
        fn claim<'a, 'b>(key: &'a str, fingerprint: &'b str, proposed: uuid::Uuid, lease: Duration) -> IdempotencyClaim;
        fn complete<'a, 'b>(key: &'a str, outcome: &'b emporium_domain::model::KeyedOutcome) -> ();
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

    /// The answer of the methods these tests never call.
    fn not_in_this_fake<T>() -> Result<T> {
        Err(Error::Internal(
            "the fake ledger answers only stock and ping".into(),
        ))
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
            not_in_this_fake()
        }
        async fn set_available(&self, _: &Sku, _: Units) -> Result<StockLevel> {
            not_in_this_fake()
        }
        async fn stock_many(&self, _: &[Sku]) -> Result<Vec<StockLevel>> {
            not_in_this_fake()
        }
        async fn remove_stock(&self, _: &Sku) -> Result<Option<StockLevel>> {
            not_in_this_fake()
        }
        async fn levels(&self, _: Option<&Sku>, _: u32) -> Result<Vec<StockLevel>> {
            not_in_this_fake()
        }
        async fn repair_reserved(&self, _: &Sku, _: Units) -> Result<StockLevel> {
            not_in_this_fake()
        }
        async fn remove_unreserved(&self, _: &Sku) -> Result<Option<StockLevel>> {
            not_in_this_fake()
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
            if guard.is_failing_fast() == want && guard.state.load(Ordering::SeqCst) != CHECKING {
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
            assert!(matches!(guard.stock(&sku()).await, Err(Error::Unavailable(s)) if s == "test"));
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
