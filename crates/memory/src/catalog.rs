//! Catalog and suppliers in memory.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{
    CategoryId, CategoryTree, Page, PageRequest, Product, ProductId, ProductQuery, ProductSort,
    Sku, Supplier, SupplierId, Units,
};
use emporium_domain::model::{DomainEvent, EventKind, ResumeToken};
use emporium_domain::ports::{Catalog, CatalogChanges, Categories, EventLog, Suppliers};
use emporium_domain::{Error, Result};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// How many product changes the catalog's change history keeps for a follower that is
/// behind (MongoDB's oplog is likewise a capped collection).
const HISTORY_CAPACITY: usize = 10_000;

/// The most changes recorded in the event log per call.
const RECORD_BATCH: usize = 500;

/// The source name of the memory catalog's changes in the event log.
const SOURCE: &str = "memory-catalog";

#[derive(Default)]
struct State {
    products: HashMap<ProductId, Product>,
    /// Every product's SKU, in SKU order: the unique index a database would keep.
    skus: BTreeMap<Sku, ProductId>,
    suppliers: HashMap<SupplierId, Supplier>,
    categories: CategoryTree,
    /// Product and supplier changes, oldest first; the first has number `history_start`.
    history: VecDeque<DomainEvent>,
    history_start: u64,
}

impl State {
    fn changed(&mut self, event: DomainEvent) {
        self.history.push_back(event);
        if self.history.len() > HISTORY_CAPACITY {
            self.history.pop_front();
            self.history_start += 1;
        }
    }
}

/// Everything the catalog holds, as a backup keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CatalogSnapshot {
    products: Vec<Product>,
    suppliers: Vec<Supplier>,
    #[serde(default)]
    categories: CategoryTree,
}

impl CatalogSnapshot {
    /// Documents per collection, as MongoDB would count them.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("products", self.products.len() as u64),
            ("suppliers", self.suppliers.len() as u64),
        ]
    }
}

impl MemoryCatalog {
    /// How many products it holds.
    pub(crate) fn product_count(&self) -> u64 {
        lock(&self.state).products.len() as u64
    }

    /// A copy of every product and supplier, taken under the catalog's lock.
    pub fn snapshot(&self) -> CatalogSnapshot {
        let state = lock(&self.state);
        CatalogSnapshot {
            products: state.products.values().cloned().collect(),
            suppliers: state.suppliers.values().cloned().collect(),
            categories: state.categories.clone(),
        }
    }

    /// Replaces every product and supplier with those of `snapshot`. Its change history
    /// records nothing: a restore is not a change the feed replays (the search index and
    /// caches are renewed by the restore itself).
    pub fn restore(&self, snapshot: CatalogSnapshot) {
        let mut state = lock(&self.state);
        state.skus = snapshot
            .products
            .iter()
            .map(|p| (p.sku.clone(), p.id))
            .collect();
        state.products = snapshot.products.into_iter().map(|p| (p.id, p)).collect();
        state.suppliers = snapshot.suppliers.into_iter().map(|s| (s.id, s)).collect();
        state.categories = snapshot.categories;
    }
}

/// Products and suppliers behind one mutex; implements [`Catalog`] and [`Suppliers`], and
/// [`CatalogChanges`] from a change history kept under the same lock (the in-process
/// counterpart of MongoDB's change stream).
#[derive(Default)]
pub struct MemoryCatalog {
    state: Mutex<State>,
    changed: Notify,
}

fn sort(products: &mut [Product], order: ProductSort) {
    products.sort_by(|a, b| {
        let primary = match order {
            ProductSort::CreatedAt => a.created_at.cmp(&b.created_at),
            ProductSort::NewestFirst => b.created_at.cmp(&a.created_at),
            ProductSort::PriceAsc => a.price.amount().cmp(&b.price.amount()),
            ProductSort::PriceDesc => b.price.amount().cmp(&a.price.amount()),
            ProductSort::NameAsc => a.name.cmp(&b.name),
        };
        // Ids are UUID v7 (time-ordered): newest-first breaks ties newest-first too.
        let tie = match order {
            ProductSort::NewestFirst => b.id.cmp(&a.id),
            _ => a.id.cmp(&b.id),
        };
        primary.then(tie)
    });
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn insert(&self, product: &Product) -> Result<()> {
        let mut state = lock(&self.state);
        if state.skus.contains_key(&product.sku) {
            return Err(Error::Conflict(format!(
                "sku {} already exists",
                product.sku
            )));
        }
        if state.products.contains_key(&product.id) {
            return Err(Error::Conflict(format!(
                "product {} already exists",
                product.id
            )));
        }
        state.skus.insert(product.sku.clone(), product.id);
        state.products.insert(product.id, product.clone());
        state.changed(DomainEvent::product(EventKind::ProductCreated, product));
        drop(state);
        self.changed.notify_waiters();
        Ok(())
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>> {
        Ok(lock(&self.state).products.get(&id).cloned())
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>> {
        let state = lock(&self.state);
        Ok(ids
            .iter()
            .filter_map(|id| state.products.get(id).cloned())
            .collect())
    }

    async fn replace(&self, product: &Product) -> Result<()> {
        let mut state = lock(&self.state);
        if state
            .skus
            .get(&product.sku)
            .is_some_and(|owner| *owner != product.id)
        {
            return Err(Error::Conflict(format!(
                "sku {} already exists",
                product.sku
            )));
        }
        let State { products, skus, .. } = &mut *state;
        match products.get_mut(&product.id) {
            Some(slot) => {
                skus.remove(&slot.sku);
                skus.insert(product.sku.clone(), product.id);
                *slot = product.clone();
                state.changed(DomainEvent::product(EventKind::ProductUpdated, product));
                drop(state);
                self.changed.notify_waiters();
                Ok(())
            }
            None => Err(Error::NotFound("product")),
        }
    }

    async fn delete(&self, id: ProductId) -> Result<Option<Product>> {
        let mut state = lock(&self.state);
        let removed = state.products.remove(&id);
        if let Some(product) = &removed {
            state.skus.remove(&product.sku);
            state.changed(DomainEvent::product_deleted(id));
            drop(state);
            self.changed.notify_waiters();
        }
        Ok(removed)
    }

    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>> {
        let mut matches: Vec<Product> = lock(&self.state)
            .products
            .values()
            .filter(|p| query.matches(p))
            .cloned()
            .collect();
        sort(&mut matches, query.sort);
        Ok(query.page.slice(&matches))
    }

    async fn count_by_supplier(&self, supplier: SupplierId) -> Result<u64> {
        Ok(lock(&self.state)
            .products
            .values()
            .filter(|p| p.supplier_id == Some(supplier))
            .count() as u64)
    }

    async fn count_by_suppliers(&self, suppliers: &[SupplierId]) -> Result<Vec<(SupplierId, u64)>> {
        let mut counts: HashMap<SupplierId, u64> = HashMap::new();
        for product in lock(&self.state).products.values() {
            if let Some(supplier) = product.supplier_id.filter(|s| suppliers.contains(s)) {
                *counts.entry(supplier).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    async fn max_low_stock_threshold(&self) -> Result<Units> {
        Ok(lock(&self.state)
            .products
            .values()
            .map(|p| p.low_stock_threshold)
            .max()
            .unwrap_or(Units::ZERO))
    }

    /// Reads the SKU index from `after` on.
    async fn skus(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<(ProductId, Sku)>> {
        use std::ops::Bound;
        let state = lock(&self.state);
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(state
            .skus
            .range::<Sku, _>((from, Bound::Unbounded))
            .take(limit as usize)
            .map(|(sku, id)| (*id, sku.clone()))
            .collect())
    }

    async fn skus_of(&self, ids: &[ProductId]) -> Result<Vec<(ProductId, Sku)>> {
        let state = lock(&self.state);
        Ok(ids
            .iter()
            .filter_map(|id| state.products.get(id).map(|p| (p.id, p.sku.clone())))
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl Suppliers for MemoryCatalog {
    async fn insert(&self, supplier: &Supplier) -> Result<()> {
        let mut state = lock(&self.state);
        if state.suppliers.contains_key(&supplier.id) {
            return Err(Error::Conflict(format!(
                "supplier {} already exists",
                supplier.id
            )));
        }
        state.suppliers.insert(supplier.id, supplier.clone());
        state.changed(DomainEvent::supplier(EventKind::SupplierCreated, supplier));
        drop(state);
        self.changed.notify_waiters();
        Ok(())
    }

    async fn get(&self, id: SupplierId) -> Result<Option<Supplier>> {
        Ok(lock(&self.state).suppliers.get(&id).cloned())
    }

    async fn get_many(&self, ids: &[SupplierId]) -> Result<Vec<Supplier>> {
        let state = lock(&self.state);
        Ok(ids
            .iter()
            .filter_map(|id| state.suppliers.get(id).cloned())
            .collect())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Supplier>> {
        let mut all: Vec<Supplier> = lock(&self.state).suppliers.values().cloned().collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(page.slice(&all))
    }

    async fn replace(&self, supplier: &Supplier) -> Result<()> {
        let mut state = lock(&self.state);
        match state.suppliers.get_mut(&supplier.id) {
            Some(slot) => {
                *slot = supplier.clone();
                state.changed(DomainEvent::supplier(EventKind::SupplierUpdated, supplier));
                drop(state);
                self.changed.notify_waiters();
                Ok(())
            }
            None => Err(Error::NotFound("supplier")),
        }
    }

    async fn delete(&self, id: SupplierId) -> Result<bool> {
        let mut state = lock(&self.state);
        let removed = state.suppliers.remove(&id).is_some();
        if removed {
            state.changed(DomainEvent::supplier_deleted(id));
            drop(state);
            self.changed.notify_waiters();
        }
        Ok(removed)
    }
}

/// A position in the change history, as a resume token.
fn token(position: u64) -> ResumeToken {
    ResumeToken(position.to_be_bytes().to_vec())
}

fn position(token: &ResumeToken) -> Option<u64> {
    Some(u64::from_be_bytes(token.0.as_slice().try_into().ok()?))
}

#[async_trait]
impl CatalogChanges for MemoryCatalog {
    async fn follow(&self, log: &dyn EventLog) -> Result<()> {
        let mut previous = log.resume_token(SOURCE).await?;
        let mut next = previous.as_ref().and_then(position).unwrap_or(0);
        loop {
            // Registered before reading, so a change made in between still wakes us.
            let changed = self.changed.notified();
            let batch: Vec<(u64, DomainEvent)> = {
                let state = lock(&self.state);
                if next < state.history_start {
                    // Like MongoDB's ChangeStreamHistoryLost: the follower fell further
                    // behind than the history keeps. Those changes never reach the feed
                    // (nor the search index, until the product changes again or the index
                    // is rebuilt): said loudly, as MongoDB would fail the stream.
                    tracing::error!(
                        lost = state.history_start - next,
                        "catalog changes dropped from the capped history before the feed recorded them"
                    );
                }
                next = next.max(state.history_start);
                let skip = usize::try_from(next - state.history_start).unwrap_or(usize::MAX);
                state
                    .history
                    .iter()
                    .skip(skip)
                    .cloned()
                    .enumerate()
                    .map(|(i, e)| (next + i as u64, e))
                    .collect()
            };
            if batch.is_empty() {
                let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
                continue;
            }
            // Many changes per transaction when behind, so a bulk load is caught up in few.
            for chunk in batch.chunks(RECORD_BATCH) {
                let Some((last, _)) = chunk.last() else {
                    continue;
                };
                let resume = token(last + 1);
                let events: Vec<DomainEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
                log.record_following(SOURCE, &events, previous.as_ref(), &resume)
                    .await?;
                previous = Some(resume);
                next = last + 1;
            }
        }
    }
}

#[async_trait]
impl Categories for MemoryCatalog {
    async fn tree(&self) -> Result<CategoryTree> {
        Ok(lock(&self.state).categories.clone())
    }

    async fn save_tree(&self, tree: &CategoryTree) -> Result<bool> {
        let mut state = lock(&self.state);
        if state.categories.version + 1 != tree.version {
            return Ok(false);
        }
        state.categories = tree.clone();
        Ok(true)
    }

    async fn product_counts(&self) -> Result<Vec<(CategoryId, u64)>> {
        let mut counts: HashMap<CategoryId, u64> = HashMap::new();
        for p in lock(&self.state).products.values() {
            for c in &p.categories {
                *counts.entry(*c).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    async fn reassign_products(&self, from: CategoryId, to: CategoryId) -> Result<u64> {
        let mut state = lock(&self.state);
        let mut moved = Vec::new();
        for p in state.products.values_mut() {
            if p.categories.contains(&from) {
                p.categories.retain(|c| *c != from);
                if !p.categories.contains(&to) {
                    p.categories.push(to);
                }
                p.updated_at = emporium_domain::model::now();
                moved.push(p.clone());
            }
        }
        for p in &moved {
            state.changed(DomainEvent::product(EventKind::ProductUpdated, p));
        }
        drop(state);
        if !moved.is_empty() {
            self.changed.notify_waiters();
        }
        Ok(moved.len() as u64)
    }
}
