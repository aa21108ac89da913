//! The four reports (ADR 0012): figures from the ledger, names from the catalog, in one
//! batched lookup per page (never one per row).

use crate::error::Result;
use crate::model::{
    CategoryId, CategoryNode, CategorySales, Currency, LowStock, Name, Page, PageRequest,
    ProductId, ProductSales, Revenue, SalesWindow, Supplier, SupplierId, SupplierSales, Units,
};
use crate::ports::Stores;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// How many candidates the low-stock report reads per batch when every product has its own
/// threshold.
const LOW_STOCK_BATCH: u32 = 500;

/// Sales by product, with the product's current name (`None` once it left the catalog).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductSalesLine {
    pub sales: ProductSales,
    pub name: Option<Name>,
}

/// Supplier performance: sales, deliveries, and what the catalog says of the supplier.
#[derive(Debug, Clone, PartialEq)]
pub struct SupplierPerformance {
    pub sales: SupplierSales,
    /// `None` once the supplier was deleted.
    pub name: Option<Name>,
    /// Catalog products that name the supplier now.
    pub products: u64,
}

/// Sales of one category of the tree and everything below it, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryRollup {
    pub category: CategoryNode,
    pub path: String,
    pub units: u64,
    pub revenue: Revenue,
}

/// Which stock counts as low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowStockRule {
    /// At or below this many units available.
    AtMost(Units),
    /// At or below each product's own `low_stock_threshold`.
    OwnThreshold,
}

#[derive(Clone)]
pub struct ReportService {
    stores: Stores,
}

impl ReportService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    #[tracing::instrument(name = "reports.sales_by_product", skip(self))]
    pub async fn sales_by_product(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<ProductSalesLine>> {
        let sales = self.stores.reports.sales_by_product(window, page).await?;
        let ids: Vec<ProductId> = sales.items.iter().map(|s| s.product_id).collect();
        let names = self.product_names(&ids).await?;
        Ok(sales.map(|sales| ProductSalesLine {
            name: names.get(&sales.product_id).cloned(),
            sales,
        }))
    }

    #[tracing::instrument(name = "reports.sales_by_category", skip(self))]
    pub async fn sales_by_category(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<CategorySales>> {
        self.stores.reports.sales_by_category(window, page).await
    }

    /// Sales by category of the tree (ADR 0018): each category's figures include its
    /// descendants'. A product counts in the categories it belongs to now (its
    /// `categories`, and the tree category whose slug is its primary `category`, when
    /// only one has it), each
    /// of them and every ancestor once, so a parent never counts a product twice.
    /// Products that left the catalog are not in it. Highest revenue first (ties by
    /// path), paged.
    #[tracing::instrument(name = "reports.sales_by_category_tree", skip(self))]
    pub async fn sales_by_category_tree(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<CategoryRollup>> {
        let mut sales = Vec::new();
        let mut offset = 0;
        loop {
            let batch = self
                .stores
                .reports
                .sales_by_product(
                    window,
                    PageRequest {
                        limit: PageRequest::MAX_LIMIT,
                        offset,
                    },
                )
                .await?;
            let n = batch.items.len() as u64;
            sales.extend(batch.items);
            offset += n;
            if n == 0 || offset >= batch.total {
                break;
            }
        }
        let tree = self.stores.categories.tree().await?;
        let mut ids: Vec<ProductId> = sales.iter().map(|s| s.product_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut products = HashMap::new();
        for chunk in ids.chunks(PageRequest::MAX_LIMIT as usize) {
            for p in self.stores.catalog.get_many(chunk).await? {
                products.insert(p.id, p);
            }
        }
        let mut totals: HashMap<(CategoryId, Currency), (u64, Decimal)> = HashMap::new();
        for line in &sales {
            let Some(product) = products.get(&line.product_id) else {
                continue;
            };
            let mut nodes: HashSet<CategoryId> = HashSet::new();
            let direct = product
                .categories
                .iter()
                .copied()
                .chain(tree.by_unique_slug(product.category.as_str()));
            for c in direct {
                nodes.extend(tree.lineage(c));
            }
            for c in nodes {
                let slot = totals.entry((c, line.revenue.currency())).or_default();
                slot.0 += line.units;
                slot.1 += line.revenue.amount();
            }
        }
        let mut items = Vec::with_capacity(totals.len());
        for ((id, currency), (units, amount)) in totals {
            let Some(node) = tree.get(id) else { continue };
            items.push(CategoryRollup {
                path: tree.path(id),
                category: node.clone(),
                units,
                revenue: Revenue::new(amount, currency).map_err(crate::Error::Internal)?,
            });
        }
        items.sort_by(|a, b| {
            b.revenue
                .amount()
                .cmp(&a.revenue.amount())
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| {
                    a.revenue
                        .currency()
                        .as_str()
                        .cmp(b.revenue.currency().as_str())
                })
        });
        Ok(page.slice(&items))
    }

    #[tracing::instrument(name = "reports.supplier_performance", skip(self))]
    pub async fn supplier_performance(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<SupplierPerformance>> {
        let sales = self.stores.reports.sales_by_supplier(window, page).await?;
        // A supplier that sold in two currencies has two rows: ask for it once.
        let mut ids: Vec<SupplierId> = sales.items.iter().map(|s| s.supplier_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let suppliers: HashMap<SupplierId, Supplier> = self
            .stores
            .suppliers
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let products: HashMap<SupplierId, u64> = self
            .stores
            .catalog
            .count_by_suppliers(&ids)
            .await?
            .into_iter()
            .collect();
        Ok(sales.map(|sales| SupplierPerformance {
            name: suppliers.get(&sales.supplier_id).map(|s| s.name.clone()),
            products: products.get(&sales.supplier_id).copied().unwrap_or(0),
            sales,
        }))
    }

    /// Low stock, lowest available first (ties by SKU).
    ///
    /// With a threshold, the ledger pages the records and the catalog names one page. With
    /// each product's own threshold, no record above the highest threshold can qualify, so
    /// the candidates are the records at or below it, read in batches and checked against
    /// their products' thresholds (one catalog lookup per batch).
    #[tracing::instrument(name = "reports.low_stock", skip(self))]
    pub async fn low_stock(&self, rule: LowStockRule, page: PageRequest) -> Result<Page<LowStock>> {
        match rule {
            LowStockRule::AtMost(at_most) => {
                let levels = self.stores.reports.low_stock(at_most, page).await?;
                let ids: Vec<ProductId> = levels.items.iter().map(|l| l.product_id).collect();
                let products = self.products(&ids).await?;
                Ok(levels.map(|level| {
                    let product = products.get(&level.product_id);
                    LowStock {
                        name: product.map(|p| p.0.clone()),
                        low_stock_threshold: product.map(|p| p.1),
                        level,
                    }
                }))
            }
            LowStockRule::OwnThreshold => {
                let ceiling = self.stores.catalog.max_low_stock_threshold().await?;
                let mut low = Vec::new();
                let mut batch = PageRequest {
                    limit: LOW_STOCK_BATCH,
                    offset: 0,
                };
                loop {
                    let levels = self.stores.reports.low_stock(ceiling, batch).await?;
                    let ids: Vec<ProductId> = levels.items.iter().map(|l| l.product_id).collect();
                    let products = self.products(&ids).await?;
                    let read = levels.items.len() as u64;
                    for level in levels.items {
                        if let Some((name, threshold)) = products.get(&level.product_id) {
                            if level.available() <= threshold.get() {
                                low.push(LowStock {
                                    level,
                                    name: Some(name.clone()),
                                    low_stock_threshold: Some(*threshold),
                                });
                            }
                        }
                    }
                    batch.offset += read;
                    if read < u64::from(LOW_STOCK_BATCH) {
                        return Ok(page.slice(&low));
                    }
                }
            }
        }
    }

    async fn product_names(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Name>> {
        Ok(self
            .products(ids)
            .await?
            .into_iter()
            .map(|(id, (name, _))| (id, name))
            .collect())
    }

    /// Name and threshold of each of `ids` still in the catalog, in one lookup.
    async fn products(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, (Name, Units)>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .stores
            .catalog
            .get_many(ids)
            .await?
            .into_iter()
            .map(|p| (p.id, (p.name, p.low_stock_threshold)))
            .collect())
    }
}
