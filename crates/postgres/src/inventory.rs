//! [`Inventory`]: stock records per SKU.

use crate::error::PgResult;
use crate::rows::{sql_units, StockRow, STOCK_COLUMNS};
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{now, ProductId, Sku, StockLevel, Units};
use emporium_domain::ports::Inventory;
use emporium_domain::{Error, Result};

#[async_trait]
impl Inventory for PgLedger {
    #[tracing::instrument(name = "pg.inventory.create_stock", skip_all, fields(sku = %sku))]
    async fn create_stock(
        &self,
        sku: &Sku,
        product: ProductId,
        on_hand: Units,
    ) -> Result<StockLevel> {
        Ok(self.woken(self.insert_stock(sku, product, on_hand).await)?)
    }

    #[tracing::instrument(name = "pg.inventory.set_available", skip_all, fields(sku = %sku))]
    async fn set_available(&self, sku: &Sku, available: Units) -> Result<StockLevel> {
        Ok(self.woken(self.update_available(sku, available).await)?)
    }

    #[tracing::instrument(name = "pg.inventory.stock", skip_all, fields(sku = %sku))]
    async fn stock(&self, sku: &Sku) -> Result<Option<StockLevel>> {
        let sql = format!("SELECT {STOCK_COLUMNS} FROM inventory WHERE sku = $1");
        Ok(self.stock_row(&sql, sku).await?)
    }

    #[tracing::instrument(name = "pg.inventory.stock_many", skip_all, fields(count = skus.len()))]
    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockLevel>> {
        Ok(self.select_many(skus).await?)
    }

    #[tracing::instrument(name = "pg.inventory.remove_stock", skip_all, fields(sku = %sku))]
    async fn remove_stock(&self, sku: &Sku) -> Result<Option<StockLevel>> {
        // No stock.changed event: the product itself is leaving, which the catalog announces.
        let sql = format!("DELETE FROM inventory WHERE sku = $1 RETURNING {STOCK_COLUMNS}");
        Ok(self.woken(self.stock_row(&sql, sku).await)?)
    }

    #[tracing::instrument(name = "pg.inventory.levels", skip_all, fields(limit = limit))]
    async fn levels(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<StockLevel>> {
        Ok(self.stock_page(after, limit).await?)
    }

    #[tracing::instrument(name = "pg.inventory.repair_reserved", skip_all, fields(sku = %sku))]
    async fn repair_reserved(&self, sku: &Sku, reserved: Units) -> Result<StockLevel> {
        Ok(self.woken(self.set_reserved(sku, reserved).await)?)
    }

    #[tracing::instrument(name = "pg.inventory.remove_unreserved", skip_all, fields(sku = %sku))]
    async fn remove_unreserved(&self, sku: &Sku) -> Result<Option<StockLevel>> {
        Ok(self.woken(self.delete_unreserved(sku).await)?)
    }

    #[tracing::instrument(name = "pg.inventory.ping", skip_all)]
    async fn ping(&self) -> Result<()> {
        PgLedger::ping(self).await
    }
}

impl PgLedger {
    /// Inserts the record and its `stock.changed` event. The SKU is checked with
    /// `ON CONFLICT DO NOTHING` so the usual case answers a clear `Conflict`; a second SKU
    /// for the same product trips the `product_id` unique index, which is a `Conflict` too.
    async fn insert_stock(
        &self,
        sku: &Sku,
        product: ProductId,
        on_hand: Units,
    ) -> PgResult<StockLevel> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO inventory (sku, product_id, on_hand, reserved, version, updated_at) \
             VALUES ($1, $2, $3, 0, 0, $4) \
             ON CONFLICT (sku) DO NOTHING \
             RETURNING {STOCK_COLUMNS}"
        );
        let row: Option<StockRow> = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .bind(product.as_uuid())
            .bind(sql_units(on_hand))
            .bind(now())
            .fetch_optional(&mut *tx)
            .await?;
        let level = row
            .ok_or_else(|| Error::Conflict(format!("SKU {sku} already has a stock record")))?
            .into_level()?;
        tx.commit().await?;
        Ok(level)
    }

    /// The stock in the default warehouse (ADR 0022): `on_hand = reserved + available`
    /// there, the total with it, under the SKU's row lock, so a reservation committed
    /// concurrently is never lost.
    async fn update_available(&self, sku: &Sku, available: Units) -> PgResult<StockLevel> {
        self.set_available_in(sku, emporium_domain::model::WarehouseId::DEFAULT, available)
            .await
    }

    /// Runs `sql` (one statement returning at most one stock row, `$1` the SKU).
    async fn stock_row(&self, sql: &str, sku: &Sku) -> PgResult<Option<StockLevel>> {
        let row: Option<StockRow> = sqlx::query_as(sql)
            .bind(sku.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(StockRow::into_level).transpose()
    }

    async fn select_many(&self, skus: &[Sku]) -> PgResult<Vec<StockLevel>> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let skus: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let sql = format!("SELECT {STOCK_COLUMNS} FROM inventory WHERE sku = ANY($1)");
        let rows: Vec<StockRow> = sqlx::query_as(&sql)
            .bind(&skus)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(StockRow::into_level).collect()
    }
}
