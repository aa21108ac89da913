//! `emporium seed` (ADR 0023): a realistic shop of any size, the same for the same seed.
//!
//! Suppliers, a category tree, warehouses, products with nested attributes and variants
//! and their stock per warehouse, customers with addresses, a year of orders with a
//! realistic status mix and their payments, and reviews of products and suppliers. It
//! writes through the bulk-load ports ([`CatalogLoad`], [`LedgerLoad`]) and the ordinary
//! [`Categories`] and [`Warehouses`] ports, so it runs on any adapter set; on the real
//! stores that is `COPY` and batched `insert_many`.
//!
//! Generation runs on a blocking thread, one batch ahead of the loaders; the catalog's
//! store and the ledger load at the same time where the data allows (products with their
//! stock; customers and reviews while orders load).
//!
//! It loads only into empty stores: a second run refuses with `Conflict` before writing
//! anything, so two data sets never mix.

mod catalog;
mod history;
mod people;
mod random;

use chrono::{DateTime, Utc};
use emporium_domain::model::{
    CategoryTree, Order, PageRequest, Product, Review, StockLoad, Timestamp, WarehouseId,
};
use emporium_domain::ports::{CatalogLoad, Categories, LedgerLoad, SalesReports, Warehouses};
use emporium_domain::{Error, Result};
use random::{stream, Stream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The moment a seeded history ends unless told otherwise: a fixed date, so that a
/// seed alone decides every record (timestamps included).
pub const DEFAULT_END: &str = "2026-12-01T00:00:00Z";

/// Records per bulk call.
const PRODUCT_BATCH: usize = 1_000;
const CUSTOMER_BATCH: usize = 1_000;
const ORDER_BATCH: usize = 5_000;
const REVIEW_BATCH: usize = 1_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub products: u32,
    pub customers: u32,
    pub orders: u32,
    pub seed: u64,
    /// Orders are spread over the year before this moment; everything else is older.
    pub end: Timestamp,
}

impl SeedPlan {
    /// The plan with the default end ([`DEFAULT_END`]).
    pub fn new(products: u32, customers: u32, orders: u32, seed: u64) -> SeedPlan {
        SeedPlan {
            products,
            customers,
            orders,
            seed,
            end: DateTime::parse_from_rfc3339(DEFAULT_END)
                .expect("a valid constant")
                .with_timezone(&Utc),
        }
    }

    /// One supplier per 500 products (at least one).
    pub fn suppliers(&self) -> u32 {
        (self.products / 500).max(1)
    }

    fn check(&self) -> Result<()> {
        if self.orders > 0 && (self.products == 0 || self.customers == 0) {
            return Err(Error::invalid(
                "orders",
                "orders need at least one product and one customer",
            ));
        }
        Ok(())
    }
}

/// Where the data goes: the ports of one adapter set.
#[derive(Clone)]
pub struct SeedTargets {
    pub catalog: Arc<dyn CatalogLoad>,
    pub ledger: Arc<dyn LedgerLoad>,
    pub categories: Arc<dyn Categories>,
    pub warehouses: Arc<dyn Warehouses>,
    pub reports: Arc<dyn SalesReports>,
}

/// The stages of a seed, in the order they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Suppliers, the category tree and the warehouses.
    Setup,
    Products,
    Customers,
    Orders,
    Reviews,
    /// The sales rollup folding the orders in, so reports are ready.
    Reports,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Setup => "suppliers, categories, warehouses",
            Stage::Products => "products and stock",
            Stage::Customers => "customers",
            Stage::Orders => "orders and payments",
            Stage::Reviews => "reviews",
            Stage::Reports => "report rollup",
        }
    }
}

/// Told how a seed goes (the CLI draws progress bars from it). `total` may be unknown
/// (0) where the count comes out of the generation (reviews).
pub trait Progress: Send + Sync {
    fn begin(&self, stage: Stage, total: u64);
    fn advance(&self, stage: Stage, by: u64);
    fn end(&self, stage: Stage);
}

/// Progress nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: Stage, _: u64) {}
    fn advance(&self, _: Stage, _: u64) {}
    fn end(&self, _: Stage) {}
}

/// What a seed wrote, and how long each stage took.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub suppliers: u64,
    pub categories: u64,
    pub warehouses: u64,
    pub products: u64,
    pub stock_units: u64,
    pub customers: u64,
    pub orders: u64,
    pub order_lines: u64,
    pub reviews: u64,
    /// Wall time from the start of each stage to its end (stages overlap).
    pub stages: Vec<(Stage, Duration)>,
    pub elapsed: Duration,
}

fn blocking_failed(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("seed generator failed: {e}"))
}

/// Refuses stores that hold anything a seed would write.
async fn ensure_empty(targets: &SeedTargets) -> Result<CategoryTree> {
    let loaded = targets.catalog.loaded().await?;
    let orders = targets.ledger.order_count().await?;
    let tree = targets.categories.tree().await?;
    let warehouses = targets
        .warehouses
        .warehouses(PageRequest {
            limit: 10,
            offset: 0,
        })
        .await?
        .items
        .into_iter()
        .filter(|w| w.id != WarehouseId::DEFAULT)
        .count();
    if loaded.products + loaded.customers + loaded.reviews + orders > 0
        || !tree.nodes.is_empty()
        || warehouses > 0
    {
        return Err(Error::Conflict(format!(
            "the stores are not empty ({} products, {} customers, {} reviews, {orders} orders, \
             {} categories, {warehouses} warehouses besides the default): a seed loads into \
             empty stores only, so that two data sets never mix; use fresh databases",
            loaded.products,
            loaded.customers,
            loaded.reviews,
            tree.nodes.len(),
        )));
    }
    Ok(tree)
}

/// Generates the plan's shop and loads it into `targets`.
pub async fn seed(
    plan: &SeedPlan,
    targets: &SeedTargets,
    progress: &dyn Progress,
) -> Result<SeedReport> {
    plan.check()?;
    let started = Instant::now();
    let mut report = SeedReport::default();
    let current_tree = ensure_empty(targets).await?;

    // Setup: the category tree, suppliers and warehouses, from one stream.
    let stage = Instant::now();
    progress.begin(Stage::Setup, 3);
    let mut rng = stream(plan.seed, Stream::Catalog);
    let (mut tree, leaves) = catalog::category_tree(&mut rng, plan.end);
    let suppliers = catalog::suppliers(&mut rng, plan.suppliers(), plan.end);
    let warehouses = catalog::warehouses(&mut rng, plan.end);
    tree.version = current_tree.version + 1;
    if !targets.categories.save_tree(&tree).await? {
        return Err(Error::Conflict(
            "the category tree changed while the seed was writing it".into(),
        ));
    }
    progress.advance(Stage::Setup, 1);
    for w in &warehouses {
        targets.warehouses.create_warehouse(w).await?;
    }
    progress.advance(Stage::Setup, 1);
    for batch in suppliers.chunks(PRODUCT_BATCH) {
        targets.catalog.load_suppliers(batch).await?;
    }
    progress.advance(Stage::Setup, 1);
    progress.end(Stage::Setup);
    report.categories = tree.nodes.len() as u64;
    report.suppliers = suppliers.len() as u64;
    report.warehouses = warehouses.len() as u64;
    report.stages.push((Stage::Setup, stage.elapsed()));

    // Products and their stock: both stores at once, batch by batch.
    let stage = Instant::now();
    progress.begin(Stage::Products, u64::from(plan.products));
    let (tx, mut rx) = mpsc::channel::<Vec<catalog::GeneratedProduct>>(2);
    let mut factory = catalog::ProductFactory {
        rng: stream(plan.seed, Stream::Products),
        end: plan.end,
        leaves,
        suppliers: suppliers.iter().map(|s| s.id).collect(),
        warehouses: std::iter::once(WarehouseId::DEFAULT)
            .chain(warehouses.iter().map(|w| w.id))
            .collect(),
    };
    let total = plan.products;
    let generator = tokio::task::spawn_blocking(move || {
        let mut n = 0;
        while n < total {
            let size = (total - n).min(PRODUCT_BATCH as u32);
            let batch = (n..n + size).map(|i| factory.make(i)).collect();
            if tx.blocking_send(batch).is_err() {
                break;
            }
            n += size;
        }
    });
    let mut summaries = Vec::with_capacity(plan.products as usize);
    while let Some(batch) = rx.recv().await {
        let (products, stock): (Vec<Product>, Vec<StockLoad>) = batch
            .iter()
            .map(|g| (g.product.clone(), g.stock.clone()))
            .unzip();
        // Stock first: a product is never visible without its stock record.
        targets.ledger.load_stock(&stock).await?;
        targets.catalog.load_products(&products).await?;
        report.stock_units += stock.iter().map(|s| u64::from(s.total())).sum::<u64>();
        report.products += products.len() as u64;
        summaries.extend(batch.into_iter().map(|g| g.summary));
        progress.advance(Stage::Products, products.len() as u64);
    }
    generator.await.map_err(blocking_failed)?;
    progress.end(Stage::Products);
    report.stages.push((Stage::Products, stage.elapsed()));

    // Customers (catalog store) while orders load (ledger); reviews follow the customers.
    let stage = Instant::now();
    let (seed, end, count) = (plan.seed, plan.end, plan.customers);
    let customers = tokio::task::spawn_blocking(move || {
        let mut rng = stream(seed, Stream::Customers);
        (0..count)
            .map(|n| people::customer(&mut rng, n, end))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(blocking_failed)?;
    let people: Vec<people::CustomerSummary> = customers
        .iter()
        .map(|c| people::CustomerSummary {
            id: c.id.clone(),
            name: c.name.clone(),
        })
        .collect();
    let mut rng = stream(plan.seed, Stream::Reviews);
    let partner_reviews = history::supplier_reviews(&mut rng, &suppliers, &people, plan.end);

    let (order_tx, mut order_rx) = mpsc::channel::<(Vec<Order>, Vec<Review>)>(2);
    let mut orders = history::OrderFactory {
        rng: stream(plan.seed, Stream::Orders),
        end: plan.end,
        products: summaries,
        customers: people,
        reviewed: Default::default(),
    };
    let total = plan.orders;
    let generator = tokio::task::spawn_blocking(move || {
        let mut n = 0;
        while n < total {
            let size = (total - n).min(ORDER_BATCH as u32);
            let mut batch = Vec::with_capacity(size as usize);
            let mut reviews = Vec::new();
            for _ in 0..size {
                let (order, mut r) = orders.make();
                batch.push(order);
                reviews.append(&mut r);
            }
            if order_tx.blocking_send((batch, reviews)).is_err() {
                break;
            }
            n += size;
        }
    });
    let (review_tx, mut review_rx) = mpsc::unbounded_channel::<Vec<Review>>();
    review_tx
        .send(partner_reviews)
        .map_err(|_| Error::Internal("review loader stopped".into()))?;

    progress.begin(Stage::Customers, u64::from(plan.customers));
    progress.begin(Stage::Orders, u64::from(plan.orders));
    progress.begin(Stage::Reviews, 0);
    let ledger_side = async {
        let mut written = (0u64, 0u64);
        while let Some((batch, reviews)) = order_rx.recv().await {
            targets.ledger.load_orders(&batch).await?;
            written.0 += batch.len() as u64;
            written.1 += batch.iter().map(|o| o.items.len() as u64).sum::<u64>();
            progress.advance(Stage::Orders, batch.len() as u64);
            if !reviews.is_empty() && review_tx.send(reviews).is_err() {
                return Err(Error::Internal("review loader stopped".into()));
            }
        }
        drop(review_tx);
        progress.end(Stage::Orders);
        Ok::<_, Error>((written, stage.elapsed()))
    };
    let catalog_side = async {
        for batch in customers.chunks(CUSTOMER_BATCH) {
            targets.catalog.load_customers(batch).await?;
            progress.advance(Stage::Customers, batch.len() as u64);
        }
        progress.end(Stage::Customers);
        let customers_took = stage.elapsed();
        let mut loaded = 0u64;
        let mut pending: Vec<Review> = Vec::new();
        loop {
            let next = review_rx.recv().await;
            let done = next.is_none();
            pending.extend(next.into_iter().flatten());
            while pending.len() >= REVIEW_BATCH || (done && !pending.is_empty()) {
                let rest = pending.split_off(pending.len().min(REVIEW_BATCH));
                targets.catalog.load_reviews(&pending).await?;
                loaded += pending.len() as u64;
                progress.advance(Stage::Reviews, pending.len() as u64);
                pending = rest;
            }
            if done {
                break;
            }
        }
        progress.end(Stage::Reviews);
        Ok::<_, Error>((loaded, customers_took, stage.elapsed()))
    };
    let (ledger_done, catalog_done) = tokio::join!(ledger_side, catalog_side);
    generator.await.map_err(blocking_failed)?;
    // The catalog side first: its failure stops the ledger side too ("review loader").
    let (reviews, customers_took, reviews_took) = catalog_done?;
    let ((orders_written, lines), orders_took) = ledger_done?;
    report.customers = customers.len() as u64;
    report.orders = orders_written;
    report.order_lines = lines;
    report.reviews = reviews;
    report.stages.push((Stage::Customers, customers_took));
    report.stages.push((Stage::Orders, orders_took));
    report.stages.push((Stage::Reviews, reviews_took));

    // The sales rollup, so the first report does not fold a year of orders; statistics
    // first, so its queries plan for the tables as they are now.
    let stage = Instant::now();
    progress.begin(Stage::Reports, 0);
    targets.ledger.finish_load().await?;
    while targets.reports.catch_up().await? > 0 {}
    progress.end(Stage::Reports);
    report.stages.push((Stage::Reports, stage.elapsed()));
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_domain::model::{OrderQuery, ProductQuery};
    use emporium_domain::ports::Stores;

    fn targets(stores: &Stores) -> SeedTargets {
        SeedTargets {
            catalog: stores.catalog_load.clone(),
            ledger: stores.ledger_load.clone(),
            categories: stores.categories.clone(),
            warehouses: stores.warehouses.clone(),
            reports: stores.reports.clone(),
        }
    }

    /// What a seed wrote that a client reads: products, orders and customers, printed.
    async fn shop(seed: u64) -> (String, String, String) {
        let stores = emporium_memory::memory_stores();
        seed_into(&stores, seed).await;
        let products = stores
            .catalog
            .list(&ProductQuery {
                page: PageRequest {
                    limit: 100,
                    offset: 0,
                },
                ..ProductQuery::default()
            })
            .await
            .unwrap();
        let orders = stores
            .orders
            .list(&OrderQuery {
                page: PageRequest {
                    limit: 500,
                    offset: 0,
                },
                ..OrderQuery::default()
            })
            .await
            .unwrap();
        let customers = stores
            .customers
            .list(PageRequest {
                limit: 100,
                offset: 0,
            })
            .await
            .unwrap();
        (
            format!("{:?}", products.items),
            format!("{:?}", orders.items),
            format!("{:?}", customers.items),
        )
    }

    async fn seed_into(stores: &Stores, seed: u64) -> SeedReport {
        super::seed(&SeedPlan::new(50, 30, 300, seed), &targets(stores), &Quiet)
            .await
            .expect("seed")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_seed_gives_the_same_shop_and_another_seed_another() {
        let first = shop(11).await;
        let again = shop(11).await;
        assert_eq!(first, again);
        let other = shop(12).await;
        assert_ne!(first.0, other.0);
        assert_ne!(first.1, other.1);
        assert_ne!(first.2, other.2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_need_products_and_customers() {
        let stores = emporium_memory::memory_stores();
        let plan = SeedPlan::new(0, 10, 10, 1);
        let refused = super::seed(&plan, &targets(&stores), &Quiet).await;
        assert!(matches!(refused, Err(Error::Validation(_))), "{refused:?}");
        assert_eq!(stores.ledger_load.order_count().await.unwrap(), 0);
    }
}
