//! Stock per warehouse (ADR 0022). `inventory` keeps each SKU's total, which reservations
//! lock and check as before; `warehouse_stock` breaks it down, and `order_allocations`
//! records which warehouses serve each order.
//!
//! **Locking:** every writer of a SKU's warehouse rows holds that SKU's `inventory` row
//! lock first (reservations and moves already take it; the routes here take it with
//! `FOR UPDATE`). So the warehouse rows of a SKU change one transaction at a time, after
//! the total, in the same order everywhere: no deadlock, and every statement's snapshot
//! (`READ COMMITTED`) sees the rows as the last holder left them.
//!
//! **Sums:** writers keep `sum(warehouse_stock) = inventory` in the same transaction. A
//! stock record inserted by anyone starts in `default` (a trigger). If something wrote the
//! totals alone (a hand-written `UPDATE inventory`), [`resync_default`] lets the default
//! warehouse absorb the difference the next time the SKU is allocated or repaired.

use crate::error::{Failure, PgResult};
use crate::rows::{sql_units, StockRow, STOCK_COLUMNS};
use crate::stock::Demand;
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{
    now, Name, Page, PageRequest, ProductId, Region, Sku, StockLevel, Transfer, Units, Warehouse,
    WarehouseCode, WarehouseId, WarehouseLevel,
};
use emporium_domain::ports::Warehouses;
use emporium_domain::{Error, Result, Shortfall};
use sqlx::PgConnection;
use uuid::Uuid;

/// One `warehouse_stock` row with its warehouse's code.
#[derive(Debug, sqlx::FromRow)]
struct LevelRow {
    sku: String,
    product_id: Uuid,
    warehouse_id: Uuid,
    code: String,
    on_hand: i32,
    reserved: i32,
}

impl LevelRow {
    fn into_level(self) -> PgResult<WarehouseLevel> {
        let bad = |e: String| crate::error::corrupt("warehouse_stock", e);
        let count = |n: i32| u32::try_from(n).map_err(|_| bad("negative count".into()));
        Ok(WarehouseLevel {
            sku: Sku::parse(self.sku).map_err(bad)?,
            product_id: ProductId::from_uuid(self.product_id),
            warehouse_id: WarehouseId::from_uuid(self.warehouse_id),
            code: WarehouseCode::parse(self.code).map_err(bad)?,
            on_hand: count(self.on_hand)?,
            reserved: count(self.reserved)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct WarehouseRow {
    id: Uuid,
    code: String,
    name: String,
    region: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl WarehouseRow {
    fn into_warehouse(self) -> PgResult<Warehouse> {
        let bad = |e: String| crate::error::corrupt("warehouses", e);
        Ok(Warehouse {
            id: WarehouseId::from_uuid(self.id),
            code: WarehouseCode::parse(self.code).map_err(bad)?,
            name: Name::parse(self.name).map_err(bad)?,
            region: Region::parse(self.region).map_err(bad)?,
            created_at: self.created_at,
        })
    }
}

const LEVEL_COLUMNS: &str = "w.sku, i.product_id, w.warehouse_id, h.code, w.on_hand, w.reserved";

/// Splits an order's reserved units over warehouses, the one with the most available
/// first, in one statement, and records the split. Runs right after the reservation,
/// with the SKUs' `inventory` rows locked. A shortfall means the sums drifted from the
/// totals: the default warehouse absorbs the drift and the split runs once more.
pub(crate) async fn allocate(
    conn: &mut PgConnection,
    order: Uuid,
    demand: &[Demand],
) -> PgResult<()> {
    if try_allocate(conn, order, demand).await? {
        return Ok(());
    }
    // The totals already hold this order's reservation; its split is what is missing.
    for d in demand {
        resync_default_before(conn, &d.sku, d.units).await?;
    }
    if try_allocate(conn, order, demand).await? {
        return Ok(());
    }
    Err(Error::Internal(format!(
        "order {order}: warehouse stock does not cover its reservation"
    ))
    .into())
}

async fn try_allocate(conn: &mut PgConnection, order: Uuid, demand: &[Demand]) -> PgResult<bool> {
    let skus: Vec<&str> = demand.iter().map(|d| d.sku.as_str()).collect();
    let units: Vec<i32> = demand.iter().map(|d| d.units).collect();
    // One statement: the split is written only when it covers every line (`ok`), so a
    // short split leaves nothing behind and needs no savepoint round trips.
    let covered: Option<bool> = sqlx::query_scalar(
        "WITH d AS (SELECT * FROM UNNEST($2::text[], $3::int4[]) AS d(sku, units)), \
         ranked AS ( \
             SELECT w.sku, w.warehouse_id, w.on_hand - w.reserved AS available, d.units, \
                    COALESCE(SUM(w.on_hand - w.reserved) OVER ( \
                        PARTITION BY w.sku ORDER BY w.on_hand - w.reserved DESC, w.warehouse_id \
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before \
               FROM warehouse_stock w JOIN d ON d.sku = w.sku \
              WHERE w.on_hand > w.reserved), \
         take AS ( \
             SELECT sku, warehouse_id, LEAST(available, units - before)::int4 AS q \
               FROM ranked WHERE units > before), \
         ok AS ( \
             SELECT bool_and(got = units) AS ok FROM ( \
                 SELECT d.units, COALESCE(SUM(t.q), 0) AS got \
                   FROM d LEFT JOIN take t ON t.sku = d.sku GROUP BY d.sku, d.units) s), \
         reserved AS ( \
             UPDATE warehouse_stock w SET reserved = w.reserved + t.q \
               FROM take t, ok WHERE ok.ok AND w.sku = t.sku AND w.warehouse_id = t.warehouse_id), \
         recorded AS ( \
             INSERT INTO order_allocations (order_id, sku, warehouse_id, quantity) \
             SELECT $1, sku, warehouse_id, q FROM take, ok WHERE ok.ok \
             ON CONFLICT (order_id, sku, warehouse_id) \
                 DO UPDATE SET quantity = order_allocations.quantity + EXCLUDED.quantity) \
         SELECT ok FROM ok",
    )
    .bind(order)
    .bind(&skus)
    .bind(&units)
    .fetch_one(&mut *conn)
    .await?;
    Ok(covered.unwrap_or(true))
}

/// The stock move of an order without a split (it predates warehouses, or was written by
/// hand) lands in the default warehouse: it absorbs the totals' difference.
pub(crate) async fn absorb_unsplit(conn: &mut PgConnection, demand: &[Demand]) -> PgResult<()> {
    for d in demand {
        resync_default(conn, &d.sku).await?;
    }
    Ok(())
}

/// Sets the default warehouse's record of `sku` so that the sums equal the SKU's total
/// (the caller holds its `inventory` row lock).
pub(crate) async fn resync_default(conn: &mut PgConnection, sku: &str) -> PgResult<()> {
    resync_default_before(conn, sku, 0).await
}

/// [`resync_default`] for an order being placed: the total's `reserved` already counts
/// `unallocated` units that no warehouse holds yet, and they stay out of the default's.
async fn resync_default_before(
    conn: &mut PgConnection,
    sku: &str,
    unallocated: i32,
) -> PgResult<()> {
    sqlx::query(
        "INSERT INTO warehouse_stock (sku, warehouse_id, on_hand, reserved) \
         SELECT i.sku, $2, i.on_hand - COALESCE(o.on_hand, 0), \
                i.reserved - $3 - COALESCE(o.reserved, 0) \
           FROM inventory i \
           LEFT JOIN (SELECT sku, SUM(on_hand)::int4 AS on_hand, SUM(reserved)::int4 AS reserved \
                        FROM warehouse_stock WHERE sku = $1 AND warehouse_id <> $2 GROUP BY sku) o \
             ON o.sku = i.sku \
          WHERE i.sku = $1 \
         ON CONFLICT (sku, warehouse_id) \
             DO UPDATE SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved",
    )
    .bind(sku)
    .bind(WarehouseId::DEFAULT.as_uuid())
    .bind(unallocated)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// After a repair of the SKU's total `reserved` (reconciliation): each warehouse's
/// reservations become what its pending orders' splits hold, and the default warehouse
/// takes up the rest, so the sums equal the repaired total.
pub(crate) async fn resync_reserved(conn: &mut PgConnection, sku: &str) -> PgResult<()> {
    sqlx::query(
        "UPDATE warehouse_stock w SET reserved = COALESCE(( \
             SELECT SUM(a.quantity) FROM order_allocations a JOIN orders o ON o.id = a.order_id \
              WHERE o.status = 'pending' AND a.sku = w.sku AND a.warehouse_id = w.warehouse_id), 0) \
          WHERE w.sku = $1 AND w.warehouse_id <> $2",
    )
    .bind(sku)
    .bind(WarehouseId::DEFAULT.as_uuid())
    .execute(&mut *conn)
    .await?;
    resync_default(conn, sku).await
}

/// Locks the SKU's total; `NotFound("stock")` without one.
async fn lock_total(conn: &mut PgConnection, sku: &Sku) -> PgResult<StockRow> {
    let sql = format!("SELECT {STOCK_COLUMNS} FROM inventory WHERE sku = $1 FOR UPDATE");
    let row: Option<StockRow> = sqlx::query_as(&sql)
        .bind(sku.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.ok_or_else(|| Error::NotFound("stock").into())
}

async fn levels_of(conn: &mut PgConnection, sku: &str) -> PgResult<Vec<WarehouseLevel>> {
    let sql = format!(
        "SELECT {LEVEL_COLUMNS} FROM warehouse_stock w JOIN warehouses h ON h.id = w.warehouse_id \
           JOIN inventory i ON i.sku = w.sku WHERE w.sku = $1 ORDER BY h.code"
    );
    let rows: Vec<LevelRow> = sqlx::query_as(&sql).bind(sku).fetch_all(&mut *conn).await?;
    rows.into_iter().map(LevelRow::into_level).collect()
}

impl PgLedger {
    /// `on_hand = reserved + available` in one warehouse, and the total with it.
    pub(crate) async fn set_available_in(
        &self,
        sku: &Sku,
        warehouse: WarehouseId,
        available: Units,
    ) -> PgResult<StockLevel> {
        let mut tx = self.pool.begin().await?;
        lock_total(&mut tx, sku).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM warehouses WHERE id = $1")
            .bind(warehouse.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(Error::NotFound("warehouse").into());
        }
        sqlx::query(
            "INSERT INTO warehouse_stock (sku, warehouse_id, on_hand, reserved) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (sku, warehouse_id) \
                 DO UPDATE SET on_hand = warehouse_stock.reserved + EXCLUDED.on_hand",
        )
        .bind(sku.as_str())
        .bind(warehouse.as_uuid())
        .bind(sql_units(available))
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "UPDATE inventory SET \
                 on_hand = (SELECT SUM(on_hand) FROM warehouse_stock WHERE sku = $1), \
                 version = version + 1, updated_at = $2 \
              WHERE sku = $1 RETURNING {STOCK_COLUMNS}"
        );
        let row: StockRow = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
        let level = row.into_level()?;
        tx.commit().await?;
        Ok(level)
    }
}

#[async_trait]
impl Warehouses for PgLedger {
    #[tracing::instrument(name = "pg.warehouses.create", skip_all, fields(code = %warehouse.code))]
    async fn create_warehouse(&self, warehouse: &Warehouse) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO warehouses (id, code, name, region, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(warehouse.id.as_uuid())
        .bind(warehouse.code.as_str())
        .bind(warehouse.name.as_str())
        .bind(warehouse.region.as_str())
        .bind(warehouse.created_at)
        .execute(&self.pool)
        .await
        .map_err(Failure::from)?
        .rows_affected();
        if inserted == 0 {
            return Err(Error::Conflict(format!(
                "a warehouse with code `{}` exists",
                warehouse.code
            )));
        }
        Ok(())
    }

    #[tracing::instrument(name = "pg.warehouses.list", skip_all)]
    async fn warehouses(&self, page: PageRequest) -> Result<Page<Warehouse>> {
        let rows: Vec<WarehouseRow> = sqlx::query_as(
            "SELECT id, code, name, region, created_at FROM warehouses \
              ORDER BY created_at, id LIMIT $1 OFFSET $2",
        )
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(Failure::from)?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM warehouses")
            .fetch_one(&self.pool)
            .await
            .map_err(Failure::from)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(WarehouseRow::into_warehouse)
                .collect::<PgResult<_>>()?,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
        })
    }

    #[tracing::instrument(name = "pg.warehouses.levels", skip_all, fields(%sku))]
    async fn warehouse_levels(&self, sku: &Sku) -> Result<Vec<WarehouseLevel>> {
        let mut conn = self.pool.acquire().await.map_err(Failure::from)?;
        Ok(levels_of(&mut conn, sku.as_str()).await?)
    }

    #[tracing::instrument(name = "pg.warehouses.set_available", skip_all, fields(%sku))]
    async fn set_warehouse_available(
        &self,
        sku: &Sku,
        warehouse: WarehouseId,
        available: Units,
    ) -> Result<StockLevel> {
        Ok(self.woken(self.set_available_in(sku, warehouse, available).await)?)
    }

    #[tracing::instrument(name = "pg.warehouses.transfer", skip_all, fields(sku = %t.sku))]
    async fn transfer(&self, t: &Transfer) -> Result<Vec<WarehouseLevel>> {
        let run = async {
            let mut tx = self.pool.begin().await?;
            let total = lock_total(&mut tx, &t.sku).await?;
            let known: i64 =
                sqlx::query_scalar("SELECT count(*) FROM warehouses WHERE id = ANY($1)")
                    .bind(vec![t.from.as_uuid(), t.to.as_uuid()])
                    .fetch_one(&mut *tx)
                    .await?;
            if known < 2 {
                return Err(Error::NotFound("warehouse").into());
            }
            let units = sql_units(t.quantity);
            let taken = sqlx::query(
                "UPDATE warehouse_stock SET on_hand = on_hand - $3 \
                  WHERE sku = $1 AND warehouse_id = $2 AND on_hand - reserved >= $3",
            )
            .bind(t.sku.as_str())
            .bind(t.from.as_uuid())
            .bind(units)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                let available: Option<i32> = sqlx::query_scalar(
                    "SELECT on_hand - reserved FROM warehouse_stock WHERE sku = $1 AND warehouse_id = $2",
                )
                .bind(t.sku.as_str())
                .bind(t.from.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
                return Err(Error::InsufficientStock(vec![Shortfall {
                    product_id: ProductId::from_uuid(total.product_id),
                    requested: t.quantity.get(),
                    available: available.map_or(0, |a| u32::try_from(a).unwrap_or(0)),
                }])
                .into());
            }
            sqlx::query(
                "INSERT INTO warehouse_stock (sku, warehouse_id, on_hand, reserved) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (sku, warehouse_id) DO UPDATE SET on_hand = warehouse_stock.on_hand + EXCLUDED.on_hand",
            )
            .bind(t.sku.as_str())
            .bind(t.to.as_uuid())
            .bind(units)
            .execute(&mut *tx)
            .await?;
            let levels = levels_of(&mut tx, t.sku.as_str()).await?;
            tx.commit().await?;
            Ok::<_, Failure>(levels)
        };
        Ok(run.await?)
    }

    #[tracing::instrument(name = "pg.warehouses.low_stock", skip_all)]
    async fn low_stock_in(
        &self,
        warehouse: WarehouseId,
        at_most: Units,
        page: PageRequest,
    ) -> Result<Page<WarehouseLevel>> {
        let sql = format!(
            "SELECT {LEVEL_COLUMNS}, count(*) OVER ()::int8 AS total \
               FROM warehouse_stock w JOIN warehouses h ON h.id = w.warehouse_id \
               JOIN inventory i ON i.sku = w.sku \
              WHERE w.warehouse_id = $1 AND w.on_hand - w.reserved <= $2 \
              ORDER BY w.on_hand - w.reserved, w.sku COLLATE \"C\" LIMIT $3 OFFSET $4"
        );
        let rows: Vec<(String, Uuid, Uuid, String, i32, i32, i64)> = sqlx::query_as(&sql)
            .bind(warehouse.as_uuid())
            .bind(sql_units(at_most))
            .bind(i64::from(page.limit))
            .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(Failure::from)?;
        let total = match rows.first() {
            Some(r) => u64::try_from(r.6).unwrap_or(0),
            None => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM warehouse_stock WHERE warehouse_id = $1 AND on_hand - reserved <= $2",
                )
                .bind(warehouse.as_uuid())
                .bind(sql_units(at_most))
                .fetch_one(&self.pool)
                .await
                .map_err(Failure::from)?;
                u64::try_from(n).unwrap_or(0)
            }
        };
        let items = rows
            .into_iter()
            .map(
                |(sku, product_id, warehouse_id, code, on_hand, reserved, _)| {
                    LevelRow {
                        sku,
                        product_id,
                        warehouse_id,
                        code,
                        on_hand,
                        reserved,
                    }
                    .into_level()
                },
            )
            .collect::<PgResult<Vec<_>>>()?;
        Ok(Page {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }
}

/// A stock record and the sums over its warehouse rows: `(sku, product, on_hand,
/// reserved, split on_hand, split reserved)`.
type MismatchRow = (String, Uuid, i32, i32, i64, i64);

fn into_mismatch(row: MismatchRow) -> PgResult<emporium_domain::model::WarehouseMismatch> {
    let (sku, product, on_hand, reserved, split_on_hand, split_reserved) = row;
    let units =
        |n: i32| u32::try_from(n).map_err(|_| Error::Internal(format!("negative units {n}")));
    let sums = |n: i64| u64::try_from(n).map_err(|_| Error::Internal(format!("negative sum {n}")));
    Ok(emporium_domain::model::WarehouseMismatch {
        sku: Sku::parse(sku).map_err(Error::Internal)?,
        product_id: ProductId::from_uuid(product),
        total: (units(on_hand)?, units(reserved)?),
        split: (sums(split_on_hand)?, sums(split_reserved)?),
    })
}

/// The sums of each stock record's warehouse rows, per record (one index range each).
const SPLIT_SUMS: &str =
    "SELECT i.sku, i.product_id, i.on_hand, i.reserved, w.on_hand, w.reserved \
       FROM inventory i CROSS JOIN LATERAL ( \
            SELECT COALESCE(SUM(on_hand), 0)::int8 AS on_hand, \
                   COALESCE(SUM(reserved), 0)::int8 AS reserved \
              FROM warehouse_stock w WHERE w.sku = i.sku) w";

impl PgLedger {
    /// [`emporium_domain::ports::LedgerAudit::warehouse_mismatches`].
    pub(crate) async fn warehouse_mismatch_page(
        &self,
        after: Option<&Sku>,
        limit: u32,
    ) -> PgResult<Vec<emporium_domain::model::WarehouseMismatch>> {
        let sql = format!(
            "{SPLIT_SUMS} WHERE ($1::text IS NULL OR i.sku COLLATE \"C\" > $1) \
               AND (i.on_hand <> w.on_hand OR i.reserved <> w.reserved) \
             ORDER BY i.sku COLLATE \"C\" LIMIT $2"
        );
        let rows: Vec<MismatchRow> = sqlx::query_as(&sql)
            .bind(after.map(Sku::as_str))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(into_mismatch).collect()
    }

    /// [`emporium_domain::ports::LedgerAudit::resync_warehouses`].
    pub(crate) async fn resync_warehouse_split(
        &self,
        sku: &Sku,
    ) -> PgResult<Option<emporium_domain::model::WarehouseMismatch>> {
        let mut tx = self.pool.begin().await?;
        match lock_total(&mut tx, sku).await {
            Ok(_) => {}
            Err(Failure::Domain(Error::NotFound(_))) => return Ok(None),
            Err(e) => return Err(e),
        }
        let sql = format!("{SPLIT_SUMS} WHERE i.sku = $1");
        let row: MismatchRow = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let found = into_mismatch(row)?;
        let (on_hand, reserved) = found.total;
        if (u64::from(on_hand), u64::from(reserved)) == found.split {
            return Ok(None);
        }
        resync_reserved(&mut tx, sku.as_str()).await?;
        tx.commit().await?;
        tracing::info!(%sku, total = ?found.total, split = ?found.split, "warehouse rows resynced");
        Ok(Some(found))
    }
}
