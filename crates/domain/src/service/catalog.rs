//! Catalog use cases. Creating and deleting a product writes to two stores (catalog and
//! inventory), so each is a small saga with a compensation.

use super::sagas::create_product::{self, CreateProduct};
use super::sagas::delete_product::{self, DeleteProduct};
use crate::error::{Error, Result};
use crate::model::{
    NewProduct, Page, Product, ProductId, ProductInput, ProductPatch, ProductQuery, ReviewSubject,
    StockLevel, SupplierId,
};
use crate::ports::Stores;
use crate::saga;

/// A product together with what the ledger said about its stock.
#[derive(Debug, Clone)]
pub struct ProductView {
    pub product: Product,
    stock: StockReading,
    /// Its reviews' rating; `None` when it could not be read (the view is still served).
    pub rating: Option<crate::model::RatingSummary>,
}

/// What the ledger said about a product's stock.
#[derive(Debug, Clone)]
enum StockReading {
    /// The ledger answered (`None`: the product has no stock record).
    Known(Option<StockLevel>),
    /// The ledger did not answer: the stock is unknown, not zero. Only reads
    /// ([`CatalogService::get`] and [`CatalogService::list`]) degrade like this; writes
    /// fail instead.
    Unavailable,
}

impl ProductView {
    /// A view with the stock the ledger returned (`None`: the product has no record).
    pub fn new(product: Product, stock: Option<StockLevel>) -> Self {
        ProductView {
            product,
            stock: StockReading::Known(stock),
            rating: None,
        }
    }

    /// A view of the catalog entry alone, for when the ledger is unavailable.
    pub fn without_stock(product: Product) -> Self {
        ProductView {
            product,
            stock: StockReading::Unavailable,
            rating: None,
        }
    }

    /// The stock record, when the ledger answered and the product has one.
    pub fn stock(&self) -> Option<&StockLevel> {
        match &self.stock {
            StockReading::Known(level) => level.as_ref(),
            StockReading::Unavailable => None,
        }
    }

    /// Units available to sell now (0 when unknown; see [`ProductView::live_stock`]).
    pub fn available(&self) -> u32 {
        self.stock().map_or(0, StockLevel::available)
    }

    /// Units held by orders in flight (0 when unknown).
    pub fn reserved(&self) -> u32 {
        self.stock().map_or(0, |s| s.reserved)
    }

    /// `(available, reserved)`, or `None` when the ledger did not answer.
    pub fn live_stock(&self) -> Option<(u32, u32)> {
        match self.stock {
            StockReading::Known(_) => Some((self.available(), self.reserved())),
            StockReading::Unavailable => None,
        }
    }
}

/// Creates, reads, updates and deletes products and their stock.
#[derive(Clone)]
pub struct CatalogService {
    stores: Stores,
    /// Where listings read the catalog: a replica where staleness is harmless (read
    /// routing, ADR 0025); `stores.catalog` when `None`.
    browse: Option<std::sync::Arc<dyn crate::ports::Catalog>>,
}

impl CatalogService {
    pub fn new(stores: Stores) -> Self {
        Self {
            stores,
            browse: None,
        }
    }

    /// Listings read from `browse` (MongoDB secondaries), everything else from the catalog.
    pub fn with_browse_catalog(
        mut self,
        browse: std::sync::Arc<dyn crate::ports::Catalog>,
    ) -> Self {
        self.browse = Some(browse);
        self
    }

    fn categories(&self) -> super::CategoryService {
        super::CategoryService::new(self.stores.clone())
    }

    async fn check_supplier(&self, supplier: Option<SupplierId>) -> Result<()> {
        if let Some(id) = supplier {
            if self.stores.suppliers.get(id).await?.is_none() {
                return Err(Error::invalid(
                    "supplier_id",
                    format!("supplier {id} does not exist"),
                ));
            }
        }
        Ok(())
    }

    /// Saga: insert the catalog entry, then create its stock record; when the second step
    /// fails the first is compensated (the entry is deleted again).
    #[tracing::instrument(name = "products.create", skip_all)]
    pub async fn create(&self, mut input: ProductInput) -> Result<ProductView> {
        let categories = input.categories.take();
        let NewProduct {
            mut product,
            initial_stock,
        } = NewProduct::parse(input)?;
        self.check_supplier(product.supplier_id).await?;
        if let Some(references) = categories {
            product.categories = self.categories().resolve(&references).await?;
        }
        let mut creation = CreateProduct::new(&self.stores, &product);
        let payload = create_product::Payload {
            sku: product.sku.clone(),
            stock: initial_stock.get(),
        };
        saga::run(
            self.stores.saga_log.as_ref(),
            &mut creation,
            product.id.as_uuid(),
            payload,
        )
        .await?;
        let stock = creation.stock.take();
        let mut view = ProductView::new(product, stock);
        view.rating = Some(Default::default());
        Ok(view)
    }

    /// One product with its live stock.
    ///
    /// Browsing must survive a ledger outage: the catalog is a separate store, and a shop
    /// that still shows its products (without stock figures) loses far less than one that
    /// shows an error page. So when the ledger is `Unavailable`, the product is returned
    /// without stock figures ([`ProductView::live_stock`] is `None`) instead of failing. Any other ledger
    /// error still fails the read.
    #[tracing::instrument(name = "products.get", skip(self))]
    pub async fn get(&self, id: ProductId) -> Result<ProductView> {
        let product = self
            .stores
            .catalog
            .get(id)
            .await?
            .ok_or(Error::NotFound("product"))?;
        let mut view = match self.stores.inventory.stock(&product.sku).await {
            Ok(stock) => ProductView::new(product, stock),
            Err(e @ Error::Unavailable(_)) => {
                tracing::warn!(product_id = %id, error = %e, "serving the product without stock");
                ProductView::without_stock(product)
            }
            Err(e) => return Err(e),
        };
        with_ratings(&self.stores, std::slice::from_mut(&mut view)).await?;
        Ok(view)
    }

    /// A page of products with their live stock; like [`CatalogService::get`], the page is
    /// served without stock figures (rather than failing) while the ledger is unavailable.
    #[tracing::instrument(name = "products.list", skip_all)]
    pub async fn list(&self, query: &ProductQuery) -> Result<Page<ProductView>> {
        let catalog = self.browse.as_ref().unwrap_or(&self.stores.catalog);
        let mut page = catalog.list(query).await?;
        let products = std::mem::take(&mut page.items);
        Ok(page.with_items(with_stock(&self.stores, products).await?))
    }

    /// Partial update. Catalog fields are written first, then the stock; when the stock
    /// write fails the catalog entry is put back as it was.
    #[tracing::instrument(name = "products.update", skip(self, input))]
    pub async fn update(&self, id: ProductId, mut input: ProductInput) -> Result<ProductView> {
        let current = self
            .stores
            .catalog
            .get(id)
            .await?
            .ok_or(Error::NotFound("product"))?;
        let categories = input.categories.take();
        let mut patch = ProductPatch::parse(input, &current)?;
        if let Some(supplier) = patch.supplier_id {
            self.check_supplier(supplier).await?;
        }
        if let Some(references) = categories {
            patch.categories = Some(self.categories().resolve(&references).await?);
        }
        let updated = if patch.touches_catalog() {
            let updated = patch.apply_to(&current);
            self.stores.catalog.replace(&updated).await?;
            updated
        } else {
            current.clone()
        };
        let stock = match patch.stock {
            Some(available) => {
                match self
                    .stores
                    .inventory
                    .set_available(&current.sku, available)
                    .await
                {
                    Ok(stock) => Some(stock),
                    Err(e) => {
                        if patch.touches_catalog() {
                            if let Err(re) = self.stores.catalog.replace(&current).await {
                                tracing::error!(product_id = %id, error = %re,
                                    "could not restore the catalog entry after a failed stock update");
                            }
                        }
                        return Err(e);
                    }
                }
            }
            None => self.stores.inventory.stock(&current.sku).await?,
        };
        let mut view = ProductView::new(updated, stock);
        with_ratings(&self.stores, std::slice::from_mut(&mut view)).await?;
        Ok(view)
    }

    /// Saga: remove the catalog entry (so no new order can take it), then its stock record;
    /// when the second step fails the entry is restored. Orders keep their own snapshot.
    #[tracing::instrument(name = "products.delete", skip(self))]
    pub async fn delete(&self, id: ProductId) -> Result<()> {
        let product = self
            .stores
            .catalog
            .get(id)
            .await?
            .ok_or(Error::NotFound("product"))?;
        let payload = delete_product::Payload {
            sku: product.sku.clone(),
        };
        saga::run(
            self.stores.saga_log.as_ref(),
            &mut DeleteProduct::new(&self.stores, id),
            id.as_uuid(),
            payload,
        )
        .await?;
        Ok(())
    }
}

/// `products` with their live stock, read in one round trip, in the same order; without
/// stock figures (rather than failing) while the ledger is unavailable.
/// Fills in each view's rating from the reviews, in one round trip; while the reviews'
/// store is unavailable the views are served without ratings.
pub(crate) async fn with_ratings(stores: &Stores, views: &mut [ProductView]) -> Result<()> {
    if views.is_empty() {
        return Ok(());
    }
    let subjects: Vec<ReviewSubject> = views
        .iter()
        .map(|v| ReviewSubject::Product(v.product.id))
        .collect();
    match stores.reviews.summaries(&subjects).await {
        Ok(found) => {
            let found: std::collections::HashMap<_, _> = found.into_iter().collect();
            for (view, subject) in views.iter_mut().zip(&subjects) {
                view.rating = Some(found.get(subject).copied().unwrap_or_default());
            }
            Ok(())
        }
        Err(e @ Error::Unavailable(_)) => {
            tracing::warn!(error = %e, "serving products without ratings");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Views of `products` with their live stock and ratings.
pub(crate) async fn with_stock(
    stores: &Stores,
    products: Vec<Product>,
) -> Result<Vec<ProductView>> {
    let mut views = with_stock_only(stores, products).await?;
    with_ratings(stores, &mut views).await?;
    Ok(views)
}

async fn with_stock_only(stores: &Stores, products: Vec<Product>) -> Result<Vec<ProductView>> {
    let skus: Vec<_> = products.iter().map(|p| p.sku.clone()).collect();
    let stocks = if skus.is_empty() {
        Ok(Vec::new())
    } else {
        stores.inventory.stock_many(&skus).await
    };
    match stocks {
        Ok(stocks) => {
            let mut by_sku: std::collections::HashMap<_, _> =
                stocks.into_iter().map(|s| (s.sku.clone(), s)).collect();
            Ok(products
                .into_iter()
                .map(|product| {
                    let stock = by_sku.remove(&product.sku);
                    ProductView::new(product, stock)
                })
                .collect())
        }
        Err(e @ Error::Unavailable(_)) => {
            tracing::warn!(error = %e, "serving products without stock");
            Ok(products
                .into_iter()
                .map(ProductView::without_stock)
                .collect())
        }
        Err(e) => Err(e),
    }
}
