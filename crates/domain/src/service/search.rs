//! Ranked search and facets, answered by the search index ([`ProductIndex`]), and the
//! upkeep that keeps the index in step with the catalog and the ledger.
//!
//! The index holds copies; the stores stay the truth. Upkeep never copies an event's
//! payload into the index: an event only says *which* product changed, and the product
//! is read again from the stores. So events may arrive late, twice, or after a rebuild
//! that already saw their change, and the index still converges on what the stores hold.

use super::catalog::{with_stock, CatalogService, ProductView};
use crate::error::{Error, Result};
use crate::model::{
    DomainEvent, EventKind, FacetField, Facets, IndexEntry, Page, ProductId, SearchQuery,
};
use crate::ports::{Catalog, ProductIndex, Stores};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Products read from the stores per round trip while (re)building the index.
const BUILD_PAGE: u32 = 500;

/// A product in a listing, with its relevance when the listing ranked text.
#[derive(Debug, Clone)]
pub struct RankedProduct {
    pub view: ProductView,
    pub score: Option<f32>,
}

/// What the index must look at again, gathered from feed events.
#[derive(Debug, Default)]
pub struct PendingUpdates {
    /// Products whose catalog entry changed (or may have).
    products: HashSet<ProductId>,
    /// The newest stock reading per product: whether units are available.
    stock: HashMap<ProductId, bool>,
}

impl PendingUpdates {
    /// Takes note of one event; order, payment and other events are not the index's.
    pub fn note(&mut self, event: &DomainEvent) {
        let id = ProductId::from_uuid(event.id);
        match event.kind {
            EventKind::ProductCreated | EventKind::ProductUpdated | EventKind::ProductDeleted => {
                self.products.insert(id);
            }
            EventKind::StockChanged => {
                // An event without a reading (it never happens) re-reads the product.
                match event.data.get("stock").and_then(|s| s.as_u64()) {
                    Some(available) => {
                        self.stock.insert(id, available > 0);
                    }
                    None => {
                        self.products.insert(id);
                    }
                }
            }
            // The index holds a product's supplier id only, which a supplier's edit
            // does not change.
            EventKind::OrderCreated
            | EventKind::OrderUpdated
            | EventKind::SupplierCreated
            | EventKind::SupplierUpdated
            | EventKind::SupplierDeleted => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.stock.is_empty()
    }
}

/// Search over the index, and its upkeep.
#[derive(Clone)]
pub struct SearchService {
    stores: Stores,
    /// Plain listings are the catalog service's own.
    catalog: CatalogService,
    /// Where upkeep reads the products it indexes (see [`SearchService::with_upkeep_catalog`]).
    upkeep_catalog: Arc<dyn Catalog>,
    /// Where search pages read their products (read routing, ADR 0025); the stores'
    /// catalog when `None`.
    browse: Option<Arc<dyn Catalog>>,
    index: Arc<dyn ProductIndex>,
    state: Arc<IndexState>,
}

#[derive(Default)]
struct IndexState {
    /// False until the first build finished: until then searches answer `Unavailable`
    /// rather than results from a half-built index.
    built: AtomicBool,
    /// Whether each indexed product was in stock when it was indexed, so a stock event
    /// that does not change it costs no store read.
    in_stock: Mutex<HashMap<ProductId, bool>>,
}

impl SearchService {
    pub fn new(stores: Stores, index: Arc<dyn ProductIndex>) -> Self {
        SearchService {
            catalog: CatalogService::new(stores.clone()),
            upkeep_catalog: stores.catalog.clone(),
            browse: None,
            stores,
            index,
            state: Arc::default(),
        }
    }

    /// Upkeep (rebuilds, applying events) reads products from `catalog` instead of the
    /// stores' catalog: the catalog itself rather than a caching decorator, so indexing
    /// every product does not make every product look recently read. Serving searches
    /// still goes through the stores' catalog.
    /// Listings and search pages read the catalog from `browse`: MongoDB secondaries,
    /// where an answer as stale as the replication lag is harmless (read routing,
    /// ADR 0025). Product pages by id, carts and prices at order time do not come here.
    pub fn with_browse_catalog(mut self, browse: Arc<dyn Catalog>) -> Self {
        self.catalog = self.catalog.with_browse_catalog(browse.clone());
        self.browse = Some(browse);
        self
    }

    pub fn with_upkeep_catalog(mut self, catalog: Arc<dyn Catalog>) -> Self {
        self.upkeep_catalog = catalog;
        self
    }

    /// True once the index has been built.
    pub fn is_built(&self) -> bool {
        self.state.built.load(Ordering::SeqCst)
    }

    fn require_built(&self) -> Result<()> {
        if self.is_built() {
            Ok(())
        } else {
            Err(Error::Unavailable(
                "the search index is being built; try again shortly".into(),
            ))
        }
    }

    /// A page of products. A plain listing (no text, no stock filter) is the catalog's
    /// own, always current; anything else is ranked and filtered by the index, then read
    /// from the stores, so every product shown is as the stores hold it now.
    #[tracing::instrument(name = "products.search", skip_all)]
    pub async fn list(&self, query: &SearchQuery) -> Result<Page<RankedProduct>> {
        if query.is_plain_listing() {
            let page = self.catalog.list(&query.catalog_query()).await?;
            return Ok(page.map(|view| RankedProduct { view, score: None }));
        }
        self.require_built()?;
        let hits = self.index.search(query).await?;
        let ids: Vec<ProductId> = hits.items.iter().map(|h| h.id).collect();
        let catalog = self.browse.as_ref().unwrap_or(&self.stores.catalog);
        let mut products: HashMap<ProductId, _> = catalog
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        // In the index order; a product deleted since the index last saw it is left out.
        let (found, scores): (Vec<_>, Vec<_>) = hits
            .items
            .iter()
            .filter_map(|hit| products.remove(&hit.id).map(|p| (p, hit.score)))
            .unzip();
        let views = with_stock(&self.stores, found).await?;
        Ok(hits.with_items(
            views
                .into_iter()
                .zip(scores)
                .map(|(view, score)| RankedProduct { view, score })
                .collect(),
        ))
    }

    /// Counts per facet among the products matching `query`.
    #[tracing::instrument(name = "products.facets", skip_all)]
    pub async fn facets(&self, query: &SearchQuery, wanted: &[FacetField]) -> Result<Facets> {
        self.require_built()?;
        self.index.facets(query, wanted).await
    }

    /// Reads every product and its stock from the stores into the index, then removes
    /// entries of products that left the catalog. Searches go on meanwhile (against the
    /// old entries until each page lands). Returns the number of products indexed.
    #[tracing::instrument(name = "search.rebuild", skip_all)]
    pub async fn rebuild(&self) -> Result<u64> {
        let mut seen = HashSet::new();
        let mut after = None;
        loop {
            let page = self.upkeep_catalog.skus(after.as_ref(), BUILD_PAGE).await?;
            let Some((_, last)) = page.last() else { break };
            after = Some(last.clone());
            let ids: Vec<ProductId> = page.iter().map(|(id, _)| *id).collect();
            let (entries, _) = self.entries(&ids).await?;
            seen.extend(entries.iter().map(|e| e.product.id));
            self.index_entries(entries, &[]).await?;
        }
        let gone: Vec<ProductId> = self
            .index
            .ids()
            .await?
            .into_iter()
            .filter(|id| !seen.contains(id))
            .collect();
        self.index_entries(Vec::new(), &gone).await?;
        self.state.built.store(true, Ordering::SeqCst);
        Ok(seen.len() as u64)
    }

    /// Brings the index up to date with `pending`: every product it names is read again
    /// from the stores, except those whose only news is a stock reading that leaves them
    /// as in (or out of) stock as indexed.
    #[tracing::instrument(name = "search.apply", skip_all)]
    pub async fn apply(&self, pending: &PendingUpdates) -> Result<()> {
        let mut ids: HashSet<ProductId> = pending.products.clone();
        {
            let indexed = self.state.in_stock.lock().expect("in_stock lock");
            ids.extend(
                pending
                    .stock
                    .iter()
                    .filter(|(id, in_stock)| indexed.get(id) != Some(in_stock))
                    .map(|(id, _)| *id),
            );
        }
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<ProductId> = ids.into_iter().collect();
        let (entries, gone) = self.entries(&ids).await?;
        self.index_entries(entries, &gone).await
    }

    /// The entries of `ids` as the stores hold them now, and the ids not in the catalog.
    async fn entries(&self, ids: &[ProductId]) -> Result<(Vec<IndexEntry>, Vec<ProductId>)> {
        let products = self.upkeep_catalog.get_many(ids).await?;
        let skus: Vec<_> = products.iter().map(|p| p.sku.clone()).collect();
        let stock: HashMap<_, _> = if skus.is_empty() {
            HashMap::new()
        } else {
            self.stores
                .inventory
                .stock_many(&skus)
                .await?
                .into_iter()
                .map(|s| (s.sku.clone(), s.available() > 0))
                .collect()
        };
        let found: HashSet<ProductId> = products.iter().map(|p| p.id).collect();
        let gone = ids
            .iter()
            .filter(|id| !found.contains(id))
            .copied()
            .collect();
        let entries = products
            .into_iter()
            .map(|product| IndexEntry {
                in_stock: stock.get(&product.sku).copied().unwrap_or(false),
                product,
            })
            .collect();
        Ok((entries, gone))
    }

    async fn index_entries(&self, entries: Vec<IndexEntry>, gone: &[ProductId]) -> Result<()> {
        if entries.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let flags: Vec<(ProductId, bool)> =
            entries.iter().map(|e| (e.product.id, e.in_stock)).collect();
        self.index.apply(entries, gone).await?;
        let mut indexed = self.state.in_stock.lock().expect("in_stock lock");
        indexed.extend(flags);
        for id in gone {
            indexed.remove(id);
        }
        Ok(())
    }
}

/// After a restore the index is rebuilt from the restored stores.
#[async_trait::async_trait]
impl super::RestoreListener for SearchService {
    async fn restored(&self) -> Result<()> {
        self.rebuild().await.map(|_| ())
    }
}
