//! A catalog that keeps answering for recently seen products while its store is down.
//!
//! Placing an order reads every product from the catalog first (to price the lines). When
//! the catalog store (MongoDB in production) is unreachable, that read would turn every
//! order into a 503 even though the ledger, which does the real work, is fine. Products
//! change rarely compared with how often they are ordered, so a copy read a few seconds ago
//! is good enough to price an order for a short while. See [`CachingCatalog`].

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{
    DomainEvent, EventKind, Page, Product, ProductId, ProductQuery, Sku, SupplierId, Units,
};
use emporium_domain::ports::Catalog;
use emporium_domain::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a [`CachingCatalog`] behaves; [`Default`] suits a catalog on MongoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// How long after the store returned a product its copy may be served. Short: it bounds
    /// how stale a price can be, including changes made by other servers.
    pub ttl: Duration,
    /// Most products kept. A copy is a few hundred bytes to a few KB, so 10,000 products
    /// take at most a few tens of MB.
    pub capacity: usize,
    /// After the store answered `Unavailable`, how long reads the copies can answer are
    /// served without asking it (so requests do not each wait out its timeout).
    pub recheck_after: Duration,
    /// The longest the cache waits for the store before it counts as unavailable. A store
    /// that accepts connections but never answers must not hang requests.
    pub deadline: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            ttl: Duration::from_secs(60),
            capacity: 10_000,
            recheck_after: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        }
    }
}

/// A [`Catalog`] decorator that serves recently read products while the inner store is
/// unavailable.
///
/// It wraps any [`Catalog`] and remembers the products its reads returned. It is a
/// **fallback**, not a read cache: every read still asks the store first, and the copies
/// are only served when the store answers `Unavailable` (or does not answer within
/// [`CacheOptions::deadline`]). What it promises:
///
/// * **Bounded staleness.** A copy is served for at most [`CacheOptions::ttl`] after the
///   store returned it, never later. The TTL is also what bounds changes this process never
///   hears about (another server's writes), so it is short.
/// * **Bounded memory.** At most [`CacheOptions::capacity`] products; the oldest copy goes
///   first.
/// * **Writes invalidate.** `insert`, `replace` and `delete` through the cache drop the
///   product's copy, before the write (from then on the copy may be outdated) and after it
///   (whatever the outcome: a failed write may still have been applied). A read that was
///   already running when a write or an event invalidated something does not store what it
///   read, because the store may have answered it before the change.
/// * **Events invalidate.** The server's event feed hands every event to
///   [`CachingCatalog::apply`]: `product.updated` and `product.deleted` drop that product's
///   copy; when the feed missed events, it calls [`CachingCatalog::clear`].
/// * **Everything else is the store's answer.** Lists, counts and products not cached get
///   the store's `Unavailable` (HTTP 503); other errors pass through unchanged.
///
/// While the store is known to be down, waiting out its timeout on every request would make
/// each order take seconds. So after an `Unavailable` the cache answers reads it can answer
/// completely without asking the store, for [`CacheOptions::recheck_after`]; then one read
/// asks the store again (the others keep using the copies meanwhile), and its answer
/// decides whether the store counts as back.
pub struct CachingCatalog {
    inner: Arc<dyn Catalog>,
    options: CacheOptions,
    state: Mutex<State>,
    clock: Clock,
    /// Reads the cache answered, and reads it could not (for the hit rate).
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct State {
    entries: HashMap<ProductId, Entry>,
    /// Entries by the order they were stored in. Every entry has the same TTL, so the
    /// front is both the oldest (evicted first when full) and the first to expire.
    order: BTreeMap<u64, ProductId>,
    next_seq: u64,
    /// Bumped by every invalidation. A read stores its results only if no invalidation
    /// happened since it started, so a read that raced a write cannot store the old value.
    generation: u64,
    /// Set when the store answered `Unavailable`: until then, reads the copies can answer
    /// do not ask the store.
    down_until: Option<Instant>,
}

struct Entry {
    product: Product,
    stored_at: Instant,
    seq: u64,
}

impl State {
    fn remove(&mut self, id: &ProductId) {
        if let Some(entry) = self.entries.remove(id) {
            self.order.remove(&entry.seq);
        }
    }

    fn invalidate(&mut self, id: &ProductId) {
        self.remove(id);
        self.generation += 1;
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.generation += 1;
    }

    /// Drops expired entries from the front.
    fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some((&seq, id)) = self.order.first_key_value() {
            let expired = self
                .entries
                .get(id)
                .is_none_or(|e| now.saturating_duration_since(e.stored_at) >= ttl);
            if !expired {
                break;
            }
            let id = *id;
            self.order.remove(&seq);
            self.entries.remove(&id);
        }
    }

    fn fresh(&self, id: &ProductId, now: Instant, ttl: Duration) -> Option<&Product> {
        self.entries
            .get(id)
            .filter(|e| now.saturating_duration_since(e.stored_at) < ttl)
            .map(|e| &e.product)
    }
}

impl CachingCatalog {
    /// Wraps `inner` with an empty cache.
    pub fn new(inner: Arc<dyn Catalog>, options: CacheOptions) -> CachingCatalog {
        CachingCatalog {
            inner,
            options,
            state: Mutex::new(State::default()),
            clock: Clock::System,
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// Reads answered from the cache, and reads it could not answer, since start: the
    /// cache is read first only while MongoDB is down (and after a timeout), so these
    /// count the reads it saved during outages.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    /// Applies a feed event for a change that may not have gone through this cache (another
    /// server's write, an edit in the MongoDB shell): `product.updated` and
    /// `product.deleted` drop that product's copy.
    pub fn apply(&self, event: &DomainEvent) {
        if matches!(
            event.kind,
            EventKind::ProductUpdated | EventKind::ProductDeleted
        ) {
            lock(&self.state).invalidate(&ProductId::from_uuid(event.id));
        }
    }

    /// How many products are cached (expired ones may still count until they are swept).
    pub fn len(&self) -> usize {
        lock(&self.state).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every copy.
    pub fn clear(&self) {
        lock(&self.state).clear();
    }

    /// Starts a read: applies pending events, and says which invalidation generation the
    /// read belongs to and whether the copies should be tried before the store.
    fn begin_read(&self) -> (u64, bool) {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let cache_first = match state.down_until {
            Some(until) if now < until => true,
            Some(_) => {
                // This read asks the store again; the others keep using the copies until
                // it has answered.
                state.down_until = Some(now + self.options.recheck_after);
                false
            }
            None => false,
        };
        (state.generation, cache_first)
    }

    /// Fresh copies of every product in `ids` (each once), or `None` when one is missing.
    fn cached(&self, ids: &[ProductId]) -> Option<Vec<Product>> {
        let found = self.lookup(ids);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        found
    }

    fn lookup(&self, ids: &[ProductId]) -> Option<Vec<Product>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let mut seen = HashSet::with_capacity(ids.len());
        let mut products = Vec::with_capacity(ids.len());
        for id in ids {
            if seen.insert(*id) {
                products.push(state.fresh(id, now, self.options.ttl)?.clone());
            }
        }
        Some(products)
    }

    /// Remembers what the store returned to a read of `generation`.
    fn store<'a>(&self, generation: u64, products: impl IntoIterator<Item = &'a Product>) {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if state.generation != generation || self.options.capacity == 0 {
            return;
        }
        state.expire(now, self.options.ttl);
        for product in products {
            state.remove(&product.id);
            let seq = state.next_seq;
            state.next_seq += 1;
            state.order.insert(seq, product.id);
            state.entries.insert(
                product.id,
                Entry {
                    product: product.clone(),
                    stored_at: now,
                    seq,
                },
            );
        }
        while state.entries.len() > self.options.capacity {
            let Some((_, id)) = state.order.pop_first() else {
                break;
            };
            state.entries.remove(&id);
        }
    }

    fn invalidate(&self, id: ProductId) {
        lock(&self.state).invalidate(&id);
    }

    /// Asks the store, bounded by the deadline, and records whether it answered.
    async fn ask<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let result = match tokio::time::timeout(self.options.deadline, call).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(deadline = ?self.options.deadline, "catalog store did not answer");
                Err(Error::Unavailable("catalog store".into()))
            }
        };
        let now = self.clock.now();
        let mut state = lock(&self.state);
        match &result {
            Err(Error::Unavailable(_)) => {
                state.down_until = Some(now + self.options.recheck_after);
            }
            // Any other answer came from a store that is up.
            _ => state.down_until = None,
        }
        result
    }

    /// A write: the copy is invalid from the start of the write and after it, however it
    /// ended.
    async fn write<T>(&self, id: ProductId, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.invalidate(id);
        let result = self.ask(call).await;
        self.invalidate(id);
        result
    }
}

#[async_trait]
impl Catalog for CachingCatalog {
    async fn insert(&self, product: &Product) -> Result<()> {
        self.write(product.id, self.inner.insert(product)).await
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>> {
        let (generation, cache_first) = self.begin_read();
        if cache_first {
            if let Some(mut hit) = self.cached(&[id]) {
                return Ok(hit.pop());
            }
        }
        match self.ask(self.inner.get(id)).await {
            Ok(found) => {
                self.store(generation, found.iter());
                Ok(found)
            }
            Err(e @ Error::Unavailable(_)) => match self.cached(&[id]) {
                Some(mut hit) => {
                    tracing::debug!(product_id = %id, "catalog unavailable; serving the cached copy");
                    Ok(hit.pop())
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>> {
        let (generation, cache_first) = self.begin_read();
        if cache_first {
            if let Some(hit) = self.cached(ids) {
                return Ok(hit);
            }
        }
        match self.ask(self.inner.get_many(ids)).await {
            Ok(found) => {
                self.store(generation, &found);
                Ok(found)
            }
            // Only a complete answer is served: a product not cached may or may not exist.
            Err(e @ Error::Unavailable(_)) => match self.cached(ids) {
                Some(hit) => {
                    tracing::debug!(
                        products = hit.len(),
                        "catalog unavailable; serving cached copies"
                    );
                    Ok(hit)
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn replace(&self, product: &Product) -> Result<()> {
        self.write(product.id, self.inner.replace(product)).await
    }

    async fn delete(&self, id: ProductId) -> Result<Option<Product>> {
        self.write(id, self.inner.delete(id)).await
    }

    /// Never served from the copies (they are not a complete catalog), but its results are
    /// remembered: a product a customer browsed is likely to be ordered next.
    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>> {
        let (generation, _) = self.begin_read();
        let page = self.ask(self.inner.list(query)).await?;
        self.store(generation, &page.items);
        Ok(page)
    }

    async fn count_by_supplier(&self, supplier: SupplierId) -> Result<u64> {
        self.ask(self.inner.count_by_supplier(supplier)).await
    }

    async fn count_by_suppliers(&self, suppliers: &[SupplierId]) -> Result<Vec<(SupplierId, u64)>> {
        self.ask(self.inner.count_by_suppliers(suppliers)).await
    }

    async fn max_low_stock_threshold(&self) -> Result<Units> {
        self.ask(self.inner.max_low_stock_threshold()).await
    }

    /// A scan over the whole catalog: only the store can answer it.
    async fn skus(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<(ProductId, Sku)>> {
        self.ask(self.inner.skus(after, limit)).await
    }

    /// Never from the copies: callers ask whether a product exists *now* (reconciliation
    /// decides what to repair by it), which a copy cannot tell.
    async fn skus_of(&self, ids: &[ProductId]) -> Result<Vec<(ProductId, Sku)>> {
        self.ask(self.inner.skus_of(ids)).await
    }

    /// The store's own answer: health checks must see the store, not the copies.
    async fn ping(&self) -> Result<()> {
        self.ask(self.inner.ping()).await
    }
}

/// Where the cache reads the time; tests move it by hand.
enum Clock {
    System,
    #[cfg(test)]
    Manual(Arc<Mutex<Instant>>),
}

impl Clock {
    fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            #[cfg(test)]
            Clock::Manual(now) => *lock(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_memory::MemoryCatalog;
    use emporium_testkit::contract::product;
    use serde_json::json;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::sync::Semaphore;

    /// A memory catalog that can be switched off, counts reads, and can hold reads.
    #[derive(Default)]
    struct Store {
        catalog: MemoryCatalog,
        down: AtomicBool,
        hang: AtomicBool,
        reads: AtomicUsize,
        /// When set, `get` waits for a permit after reading (a slow answer in flight).
        hold: Mutex<Option<Arc<Semaphore>>>,
    }

    impl Store {
        fn check(&self) -> Result<()> {
            if self.down.load(Ordering::SeqCst) {
                Err(Error::Unavailable("test store".into()))
            } else {
                Ok(())
            }
        }

        async fn gate(&self) -> Result<()> {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.check()
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Catalog for Store {
        async fn insert(&self, product: &Product) -> Result<()> {
            self.gate().await?;
            Catalog::insert(&self.catalog, product).await
        }
        async fn get(&self, id: ProductId) -> Result<Option<Product>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.gate().await?;
            let found = Catalog::get(&self.catalog, id).await;
            let hold = lock(&self.hold).clone();
            if let Some(hold) = hold {
                let _permit = hold.acquire().await;
            }
            found
        }
        async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.gate().await?;
            self.catalog.get_many(ids).await
        }
        async fn replace(&self, product: &Product) -> Result<()> {
            self.gate().await?;
            Catalog::replace(&self.catalog, product).await
        }
        async fn delete(&self, id: ProductId) -> Result<Option<Product>> {
            self.gate().await?;
            Catalog::delete(&self.catalog, id).await
        }
        async fn list(&self, query: &ProductQuery) -> Result<Page<Product>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.gate().await?;
            Catalog::list(&self.catalog, query).await
        }
        async fn count_by_supplier(&self, supplier: SupplierId) -> Result<u64> {
            self.gate().await?;
            self.catalog.count_by_supplier(supplier).await
        }
        async fn count_by_suppliers(
            &self,
            suppliers: &[SupplierId],
        ) -> Result<Vec<(SupplierId, u64)>> {
            self.gate().await?;
            self.catalog.count_by_suppliers(suppliers).await
        }
        async fn max_low_stock_threshold(&self) -> Result<Units> {
            self.gate().await?;
            self.catalog.max_low_stock_threshold().await
        }
        async fn skus(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<(ProductId, Sku)>> {
            self.gate().await?;
            self.catalog.skus(after, limit).await
        }
        async fn skus_of(&self, ids: &[ProductId]) -> Result<Vec<(ProductId, Sku)>> {
            self.gate().await?;
            self.catalog.skus_of(ids).await
        }
        async fn ping(&self) -> Result<()> {
            self.gate().await
        }
    }

    struct Fixture {
        store: Arc<Store>,
        cache: CachingCatalog,
        now: Arc<Mutex<Instant>>,
    }

    impl Fixture {
        fn new(options: CacheOptions) -> Fixture {
            let store = Arc::new(Store::default());
            let now = Arc::new(Mutex::new(Instant::now()));
            let mut cache = CachingCatalog::new(store.clone(), options);
            cache.clock = Clock::Manual(now.clone());
            Fixture { store, cache, now }
        }

        fn advance(&self, by: Duration) {
            *lock(&self.now) += by;
        }

        fn down(&self, down: bool) {
            self.store.down.store(down, Ordering::SeqCst);
        }

        /// A product in the store (not through the cache, so not cached).
        async fn stored(&self, name: &str) -> Product {
            let p = product(name, "books", "10.00");
            Catalog::insert(&self.store.catalog, &p)
                .await
                .expect("insert");
            p
        }

        /// A product in the store, read once through the cache.
        async fn seen(&self, name: &str) -> Product {
            let p = self.stored(name).await;
            assert_eq!(self.cache.get(p.id).await.expect("get"), Some(p.clone()));
            p
        }
    }

    fn options() -> CacheOptions {
        CacheOptions {
            ttl: Duration::from_secs(60),
            capacity: 100,
            recheck_after: Duration::from_secs(1),
            deadline: Duration::from_secs(5),
        }
    }

    fn unavailable<T: std::fmt::Debug>(result: Result<T>) -> bool {
        matches!(result, Err(Error::Unavailable(_)))
    }

    #[tokio::test]
    async fn serves_a_recently_read_product_while_the_store_is_down() {
        let f = Fixture::new(options());
        let a = f.seen("a").await;
        let b = f.stored("b").await;
        assert_eq!(
            f.cache.get_many(&[b.id]).await.expect("read b"),
            vec![b.clone()]
        );
        f.down(true);
        f.advance(Duration::from_secs(59));
        assert_eq!(f.cache.get(a.id).await.expect("a"), Some(a.clone()));
        let mut both = f.cache.get_many(&[a.id, b.id, a.id]).await.expect("a, b");
        both.sort_by_key(|p| p.id);
        let mut expected = vec![a, b];
        expected.sort_by_key(|p| p.id);
        assert_eq!(both, expected, "each product once");
    }

    #[tokio::test]
    async fn a_product_never_read_is_unavailable_and_so_is_a_partial_answer() {
        let f = Fixture::new(options());
        let a = f.seen("a").await;
        let never = f.stored("never read").await;
        f.down(true);
        assert!(unavailable(f.cache.get(never.id).await));
        assert!(unavailable(f.cache.get_many(&[a.id, never.id]).await));
        // Lists and counts are never answered from the copies.
        assert!(unavailable(f.cache.list(&ProductQuery::default()).await));
        assert!(unavailable(
            f.cache.count_by_supplier(SupplierId::new()).await
        ));
    }

    #[tokio::test]
    async fn copies_expire_after_the_ttl() {
        let f = Fixture::new(options());
        let a = f.seen("a").await;
        f.down(true);
        f.advance(Duration::from_secs(60));
        assert!(unavailable(f.cache.get(a.id).await));
        assert!(unavailable(f.cache.get_many(&[a.id]).await));
    }

    #[tokio::test]
    async fn a_fresh_read_restarts_the_ttl() {
        let f = Fixture::new(options());
        let a = f.seen("a").await;
        f.advance(Duration::from_secs(50));
        f.cache.get(a.id).await.expect("read again");
        f.advance(Duration::from_secs(50));
        f.down(true);
        assert_eq!(f.cache.get(a.id).await.expect("a"), Some(a));
    }

    #[tokio::test]
    async fn holds_at_most_capacity_products_dropping_the_oldest() {
        let f = Fixture::new(CacheOptions {
            capacity: 2,
            ..options()
        });
        let first = f.seen("first").await;
        let second = f.seen("second").await;
        let third = f.seen("third").await;
        assert_eq!(f.cache.len(), 2);
        f.down(true);
        assert!(unavailable(f.cache.get(first.id).await));
        assert_eq!(f.cache.get(second.id).await.expect("second"), Some(second));
        assert_eq!(f.cache.get(third.id).await.expect("third"), Some(third));
    }

    #[tokio::test]
    async fn list_results_are_remembered() {
        let f = Fixture::new(options());
        let a = f.stored("a").await;
        let page = f.cache.list(&ProductQuery::default()).await.expect("list");
        assert_eq!(page.items, vec![a.clone()]);
        f.down(true);
        assert_eq!(f.cache.get(a.id).await.expect("a"), Some(a));
    }

    #[tokio::test]
    async fn every_write_through_the_cache_drops_the_copy() {
        let f = Fixture::new(options());
        let replaced = f.seen("replaced").await;
        let deleted = f.seen("deleted").await;
        let failed = f.seen("failed write").await;

        let mut changed = replaced.clone();
        changed.name = emporium_domain::model::Name::parse("renamed").expect("name");
        f.cache.replace(&changed).await.expect("replace");
        f.cache.delete(deleted.id).await.expect("delete");
        f.down(true);
        assert!(unavailable(f.cache.replace(&failed).await));
        assert!(unavailable(f.cache.get(replaced.id).await));
        assert!(unavailable(f.cache.get(deleted.id).await));
        assert!(
            unavailable(f.cache.get(failed.id).await),
            "a failed write may have been applied; its copy is gone too"
        );

        // An insert drops a copy of the same id too (it can only be an outdated one).
        f.down(false);
        let fresh = f.seen("fresh").await;
        Catalog::delete(&f.store.catalog, fresh.id)
            .await
            .expect("delete");
        f.cache.insert(&fresh).await.expect("insert again");
        f.down(true);
        assert!(unavailable(f.cache.get(fresh.id).await));
    }

    #[tokio::test]
    async fn product_events_drop_the_copy_and_other_events_do_not() {
        let f = Fixture::new(options());
        let updated = f.seen("updated").await;
        let deleted = f.seen("deleted").await;
        let untouched = f.seen("untouched").await;

        f.cache.apply(&DomainEvent::new(
            EventKind::ProductUpdated,
            updated.id.as_uuid(),
            json!({}),
        ));
        f.cache.apply(&DomainEvent::product_deleted(deleted.id));
        f.cache
            .apply(&DomainEvent::stock_changed(untouched.id, 1, 0));
        f.down(true);
        assert!(unavailable(f.cache.get(updated.id).await));
        assert!(unavailable(f.cache.get(deleted.id).await));
        assert_eq!(
            f.cache.get(untouched.id).await.expect("untouched"),
            Some(untouched)
        );
    }

    #[tokio::test]
    async fn a_read_that_raced_a_write_does_not_store_the_old_value() {
        let f = Arc::new(Fixture::new(options()));
        let p = f.stored("raced").await;
        let hold = Arc::new(Semaphore::new(0));
        *lock(&f.store.hold) = Some(hold.clone());
        // The read gets the old value from the store, then stalls before returning it.
        let reader = {
            let f = f.clone();
            tokio::spawn(async move { f.cache.get(p.id).await })
        };
        while f.store.reads() == 0 {
            tokio::task::yield_now().await;
        }
        let mut changed = p.clone();
        changed.name = emporium_domain::model::Name::parse("changed").expect("name");
        f.cache.replace(&changed).await.expect("replace");
        hold.add_permits(1);
        let old = reader.await.expect("reader").expect("read");
        assert_eq!(old, Some(p), "the read itself answers what the store said");
        assert!(f.cache.is_empty(), "but does not keep it");
    }

    #[tokio::test]
    async fn while_known_down_answers_from_the_copies_and_rechecks_once_in_a_while() {
        let f = Fixture::new(options());
        let a = f.seen("a").await;
        let never = f.stored("never").await;
        f.down(true);
        let before = f.store.reads();
        assert_eq!(f.cache.get(a.id).await.expect("a"), Some(a.clone()));
        assert_eq!(f.store.reads(), before + 1, "the first read finds out");
        for _ in 0..3 {
            assert_eq!(f.cache.get_many(&[a.id]).await.expect("a"), vec![a.clone()]);
        }
        assert_eq!(f.store.reads(), before + 1, "then the copies answer alone");
        assert!(unavailable(f.cache.get(never.id).await));
        assert_eq!(
            f.store.reads(),
            before + 2,
            "what they cannot answer asks the store"
        );

        f.down(false);
        f.advance(Duration::from_secs(1));
        f.cache.get(a.id).await.expect("a");
        assert_eq!(
            f.store.reads(),
            before + 3,
            "after recheck_after, the store is asked"
        );
        f.cache.get(a.id).await.expect("a");
        assert_eq!(
            f.store.reads(),
            before + 4,
            "and once it answers, it is asked every time"
        );
    }

    #[tokio::test]
    async fn a_store_that_does_not_answer_counts_as_unavailable() {
        let f = Fixture::new(CacheOptions {
            deadline: Duration::from_millis(50),
            ..options()
        });
        let a = f.seen("a").await;
        let never = f.stored("never").await;
        f.store.hang.store(true, Ordering::SeqCst);
        assert_eq!(f.cache.get(a.id).await.expect("a"), Some(a));
        assert!(unavailable(f.cache.get(never.id).await));
        assert!(unavailable(f.cache.ping().await));
    }

    #[tokio::test]
    async fn other_errors_pass_through() {
        let f = Fixture::new(options());
        let missing = product("missing", "books", "1.00");
        assert!(matches!(
            f.cache.replace(&missing).await,
            Err(Error::NotFound(_))
        ));
        let a = f.seen("a").await;
        let mut dup = product("dup", "books", "1.00");
        dup.sku = a.sku.clone();
        assert!(matches!(
            f.cache.insert(&dup).await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(f.cache.get(ProductId::new()).await.expect("get"), None);
    }

    /// The cache is a catalog like any other: it passes the whole contract suite.
    mod contract {
        emporium_testkit::contract_suite!(async {
            let mut stores = emporium_memory::memory_stores();
            stores.catalog = std::sync::Arc::new(crate::CachingCatalog::new(
                stores.catalog.clone(),
                crate::CacheOptions::default(),
            ));
            emporium_testkit::Fixture::new(stores)
        });
    }
}
