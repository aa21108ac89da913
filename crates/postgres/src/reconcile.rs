//! The ledger's side of reconciliation: paged scans, consistent readings of a reservation,
//! and the repairs, each one transaction.
//!
//! The port methods in `inventory.rs` and `orders/mod.rs` delegate here.
//!
//! * **Scans page by keyset** (`WHERE sku > $1 ORDER BY sku LIMIT n`, `id > $1 ORDER BY
//!   id`), served by the primary keys in the database's own collation, so every page costs
//!   the same however deep the scan is, and no transaction stays open between pages.
//! * **What pending orders hold** is summed from `orders` (by its `status` index) joined
//!   to their lines; there are few pending orders at any time.
//! * **[`PgLedger::release_leaked_reservation`] excludes every order move on the SKU.** It
//!   locks the stock row (`FOR UPDATE`) first, which waits for any transaction that is
//!   reserving, selling or releasing units of that SKU (they all lock the row), and only
//!   then sums the pending lines. Under `READ COMMITTED` that sum is a fresh snapshot taken
//!   after the lock was granted, so it counts every order that committed before, and no
//!   order can change the SKU's reservation until this commits: pessimistic reservations
//!   queue on the lock, and optimistic ones find the row's `version` moved and retry. It
//!   locks a single row and never an order row, so it cannot join a deadlock cycle with
//!   the order transactions (order row, then stock rows in SKU order).

use crate::error::PgResult;
use crate::rows::{sql_units, StockRow, STOCK_COLUMNS};
use crate::PgLedger;
use emporium_domain::model::{now, Order, OrderId, Sku, StockLevel, Units};
use emporium_domain::ports::{Holding, Orders, Release};
use emporium_domain::Error;
use sqlx::PgConnection;
use uuid::Uuid;

/// Units on the lines of `pending` orders for one SKU (`$1`).
const HELD_OF_SKU: &str = "SELECT COALESCE(SUM(i.quantity), 0)::int8 \
       FROM orders o JOIN order_items i ON i.order_id = o.id \
      WHERE o.status = 'pending' AND i.sku = $1";

impl PgLedger {
    pub(crate) async fn stock_page(
        &self,
        after: Option<&Sku>,
        limit: u32,
    ) -> PgResult<Vec<StockLevel>> {
        // Two statements rather than `$1 IS NULL OR sku > $1`, which a cached generic plan
        // could not serve with an index range scan.
        let rows: Vec<StockRow> = match after {
            Some(after) => {
                let sql = format!(
                    "SELECT {STOCK_COLUMNS} FROM inventory WHERE sku > $1 ORDER BY sku LIMIT $2"
                );
                sqlx::query_as(&sql)
                    .bind(after.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {STOCK_COLUMNS} FROM inventory ORDER BY sku LIMIT $1");
                sqlx::query_as(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter().map(StockRow::into_level).collect()
    }

    /// One conditional `UPDATE`: `on_hand >= reserved` is checked on the row version the
    /// update locks, so a concurrent sale that lowered `on_hand` is never overwritten into
    /// a broken invariant (the CHECK constraints would refuse it anyway).
    pub(crate) async fn set_reserved(&self, sku: &Sku, reserved: Units) -> PgResult<StockLevel> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE inventory SET reserved = $2, version = version + 1, updated_at = $3 \
              WHERE sku = $1 AND on_hand >= $2 \
          RETURNING {STOCK_COLUMNS}"
        );
        let row: Option<StockRow> = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .bind(sql_units(reserved))
            .bind(now())
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            crate::warehouses::resync_reserved(&mut tx, sku.as_str()).await?;
        }
        let Some(row) = row else {
            let on_hand = on_hand_of(&mut tx, sku).await?;
            tx.rollback().await?;
            return Err(match on_hand {
                None => Error::NotFound("stock"),
                Some(on_hand) => Error::Conflict(format!(
                    "cannot reserve {reserved} of SKU {sku}: only {on_hand} on hand"
                )),
            }
            .into());
        };
        let level = row.into_level()?;
        tx.commit().await?;
        Ok(level)
    }

    /// `DELETE ... WHERE reserved = 0`: the condition is evaluated on the row the delete
    /// locks, so a reservation committed meanwhile keeps the record.
    pub(crate) async fn delete_unreserved(&self, sku: &Sku) -> PgResult<Option<StockLevel>> {
        let sql = format!(
            "DELETE FROM inventory WHERE sku = $1 AND reserved = 0 RETURNING {STOCK_COLUMNS}"
        );
        let row: Option<StockRow> = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(Some(row.into_level()?));
        }
        let reserved: Option<i32> =
            sqlx::query_scalar("SELECT reserved FROM inventory WHERE sku = $1")
                .bind(sku.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match reserved {
            None => Ok(None),
            Some(reserved) => {
                Err(Error::Conflict(format!("SKU {sku} has {reserved} units reserved")).into())
            }
        }
    }

    pub(crate) async fn held_per_sku(&self) -> PgResult<Vec<(Sku, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT i.sku, SUM(i.quantity)::int8 \
               FROM orders o JOIN order_items i ON i.order_id = o.id \
              WHERE o.status = 'pending' \
           GROUP BY i.sku ORDER BY i.sku",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(sku, units)| {
                let sku = Sku::parse(sku).map_err(|e| crate::error::corrupt("order_items", e))?;
                Ok((sku, units_held(units)?))
            })
            .collect()
    }

    /// Both reads in one `REPEATABLE READ` snapshot: consistent, and without locks.
    pub(crate) async fn read_holding(&self, sku: &Sku) -> PgResult<Option<Holding>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let sql = format!("SELECT {STOCK_COLUMNS} FROM inventory WHERE sku = $1");
        let row: Option<StockRow> = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let holding = match row {
            Some(row) => Some(Holding {
                level: row.into_level()?,
                held: held_of(&mut tx, sku).await?,
            }),
            None => None,
        };
        tx.commit().await?;
        Ok(holding)
    }

    /// Lock the row, then sum what pending orders hold, then lower `reserved` to it when
    /// it is above; see the module documentation for why nothing can slip in between.
    pub(crate) async fn release_leaked_reservation(&self, sku: &Sku) -> PgResult<Option<Release>> {
        let mut tx = self.pool.begin().await?;
        let sql = format!("SELECT {STOCK_COLUMNS} FROM inventory WHERE sku = $1 FOR UPDATE");
        let row: Option<StockRow> = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let found = Holding {
            level: row.into_level()?,
            held: held_of(&mut tx, sku).await?,
        };
        if u64::from(found.level.reserved) <= found.held {
            tx.rollback().await?;
            let level = found.level.clone();
            return Ok(Some(Release { found, level }));
        }
        let sql = format!(
            "UPDATE inventory SET reserved = $2, version = version + 1, updated_at = $3 \
              WHERE sku = $1 \
          RETURNING {STOCK_COLUMNS}"
        );
        // Below the record's u32 `reserved` here, so it fits an INTEGER.
        let held = i32::try_from(found.held).unwrap_or(i32::MAX);
        let row: StockRow = sqlx::query_as(&sql)
            .bind(sku.as_str())
            .bind(held)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
        crate::warehouses::resync_reserved(&mut tx, sku.as_str()).await?;
        let level = row.into_level()?;
        tx.commit().await?;
        Ok(Some(Release { found, level }))
    }

    /// The ids come from one keyset query (primary key order); each order is then read
    /// whole. Disagreements are rare, so reading them one by one costs little, and an
    /// order that changed in between is returned as it now is (the port allows it).
    pub(crate) async fn payment_mismatch_page(
        &self,
        after: Option<OrderId>,
        limit: u32,
    ) -> PgResult<Vec<Order>> {
        // The SQL form of `emporium_domain::ports::payment_agrees`, negated.
        const DISAGREES: &str = "( \
               (o.status IN ('confirmed', 'shipped', 'delivered') \
                    AND p.status IS DISTINCT FROM 'authorized') \
            OR (o.status IN ('failed', 'cancelled') AND p.status = 'authorized') \
            OR (o.status = 'pending' AND p.order_id IS NOT NULL))";
        let ids: Vec<Uuid> = match after {
            Some(after) => {
                let sql = format!(
                    "SELECT o.id FROM orders o LEFT JOIN payments p ON p.order_id = o.id \
                      WHERE o.id > $1 AND {DISAGREES} ORDER BY o.id LIMIT $2"
                );
                sqlx::query_scalar(&sql)
                    .bind(after.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT o.id FROM orders o LEFT JOIN payments p ON p.order_id = o.id \
                      WHERE {DISAGREES} ORDER BY o.id LIMIT $1"
                );
                sqlx::query_scalar(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(order) = Orders::get(self, OrderId::from_uuid(id)).await? {
                orders.push(order);
            }
        }
        Ok(orders)
    }
}

async fn on_hand_of(conn: &mut PgConnection, sku: &Sku) -> PgResult<Option<i32>> {
    Ok(
        sqlx::query_scalar("SELECT on_hand FROM inventory WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(conn)
            .await?,
    )
}

async fn held_of(conn: &mut PgConnection, sku: &Sku) -> PgResult<u64> {
    let units: i64 = sqlx::query_scalar(HELD_OF_SKU)
        .bind(sku.as_str())
        .fetch_one(conn)
        .await?;
    units_held(units)
}

fn units_held(units: i64) -> PgResult<u64> {
    u64::try_from(units).map_err(|_| crate::error::corrupt("order_items", "negative quantity"))
}
