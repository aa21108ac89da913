//! Warehouses and stock per location (ADR 0022).

use crate::error::{Error, Result};
use crate::model::{
    Page, PageRequest, Product, ProductId, StockLevel, Transfer, Units, Warehouse, WarehouseId,
    WarehouseInput, WarehouseLevel,
};
use crate::ports::Stores;

/// A product's stock: the total and each warehouse's part.
#[derive(Debug, Clone)]
pub struct StockBreakdown {
    pub product: Product,
    pub total: Option<StockLevel>,
    pub warehouses: Vec<WarehouseLevel>,
}

#[derive(Clone)]
pub struct WarehouseService {
    stores: Stores,
}

impl WarehouseService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    #[tracing::instrument(name = "warehouses.create", skip_all)]
    pub async fn create(&self, input: WarehouseInput) -> Result<Warehouse> {
        let warehouse = Warehouse::parse_new(input)?;
        self.stores.warehouses.create_warehouse(&warehouse).await?;
        Ok(warehouse)
    }

    pub async fn list(&self, page: PageRequest) -> Result<Page<Warehouse>> {
        self.stores.warehouses.warehouses(page).await
    }

    /// The warehouse a client's reference names: its id, or its code.
    pub async fn resolve(&self, field: &str, reference: &str) -> Result<WarehouseId> {
        let all = self
            .stores
            .warehouses
            .warehouses(PageRequest {
                limit: PageRequest::MAX_LIMIT,
                offset: 0,
            })
            .await?;
        let by_id = reference.parse::<WarehouseId>().ok();
        all.items
            .iter()
            .find(|w| Some(w.id) == by_id || w.code.as_str() == reference)
            .map(|w| w.id)
            .ok_or_else(|| Error::invalid(field, format!("no warehouse `{reference}`")))
    }

    async fn product(&self, id: ProductId) -> Result<Product> {
        self.stores
            .catalog
            .get(id)
            .await?
            .ok_or(Error::NotFound("product"))
    }

    #[tracing::instrument(name = "warehouses.stock", skip(self))]
    pub async fn stock(&self, id: ProductId) -> Result<StockBreakdown> {
        let product = self.product(id).await?;
        let total = self.stores.inventory.stock(&product.sku).await?;
        let warehouses = self
            .stores
            .warehouses
            .warehouse_levels(&product.sku)
            .await?;
        Ok(StockBreakdown {
            product,
            total,
            warehouses,
        })
    }

    /// Sets the units available in one warehouse; 404 for an unknown warehouse.
    #[tracing::instrument(name = "warehouses.set_stock", skip(self))]
    pub async fn set_stock(
        &self,
        id: ProductId,
        warehouse: WarehouseId,
        stock: i64,
    ) -> Result<StockBreakdown> {
        let available = Units::try_from(stock).map_err(|e| Error::invalid("stock", e))?;
        let product = self.product(id).await?;
        self.stores
            .warehouses
            .set_warehouse_available(&product.sku, warehouse, available)
            .await?;
        self.stock(id).await
    }

    /// Moves units between warehouses (named by id or code) in one transaction.
    #[tracing::instrument(name = "warehouses.transfer", skip(self))]
    pub async fn transfer(
        &self,
        id: ProductId,
        from: &str,
        to: &str,
        quantity: i64,
    ) -> Result<StockBreakdown> {
        let quantity = match Units::try_from(quantity) {
            Ok(q) if q.get() > 0 => q,
            _ => {
                return Err(Error::invalid(
                    "quantity",
                    "must be a whole number of at least 1",
                ))
            }
        };
        let (from, to) = (
            self.resolve("from", from).await?,
            self.resolve("to", to).await?,
        );
        if from == to {
            return Err(Error::invalid(
                "to",
                "must be another warehouse than `from`",
            ));
        }
        let product = self.product(id).await?;
        self.stores
            .warehouses
            .transfer(&Transfer {
                sku: product.sku.clone(),
                from,
                to,
                quantity,
            })
            .await?;
        self.stock(id).await
    }

    /// Low stock in one warehouse (named by id or code).
    pub async fn low_stock(
        &self,
        warehouse: &str,
        at_most: Units,
        page: PageRequest,
    ) -> Result<Page<(WarehouseLevel, Option<Product>)>> {
        let id = self.resolve("warehouse", warehouse).await?;
        let levels = self
            .stores
            .warehouses
            .low_stock_in(id, at_most, page)
            .await?;
        let ids: Vec<ProductId> = levels.items.iter().map(|l| l.product_id).collect();
        let products = self.stores.catalog.get_many(&ids).await?;
        Ok(levels.map(|l| {
            let p = products.iter().find(|p| p.id == l.product_id).cloned();
            (l, p)
        }))
    }
}
