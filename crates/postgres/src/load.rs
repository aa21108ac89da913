//! Bulk loading (ADR 0023): `COPY ... FROM STDIN (FORMAT csv)`, one transaction per call.
//!
//! Stock: `inventory` rows by `COPY` (their triggers give each a `default` warehouse row
//! and a `stock.changed`), then the other warehouses' rows, then the default's share is
//! what the others leave of the total. Orders: `orders`, `order_items` and `payments` by
//! three `COPY`s under `emporium.load = 'history'`, which silences `order.created`
//! (migration 0014); the sales rollup folds them in as it does any order. A duplicate
//! key anywhere is `Conflict` (unique violations are, throughout the adapter).

use crate::error::{Failure, PgResult};
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{Order, OrderStatus, StockLoad, WarehouseId};
use emporium_domain::ports::LedgerLoad;
use emporium_domain::{Error, Result};
use sqlx::PgConnection;
use std::fmt::Write;

/// One CSV field, always quoted (an unquoted empty field is `NULL`).
fn text(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn optional(out: &mut String, value: Option<&str>) {
    if let Some(v) = value {
        text(out, v);
    }
}

/// A timestamp as PostgreSQL reads it back exactly (microseconds, UTC).
fn time(out: &mut String, at: chrono::DateTime<chrono::Utc>) {
    let _ = write!(out, "{}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
}

async fn copy(conn: &mut PgConnection, statement: &str, csv: String) -> PgResult<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(csv.into_bytes()).await {
        let _ = copy.abort("send failed").await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

fn stock_csv(stock: &[StockLoad]) -> (String, String) {
    let mut totals = String::with_capacity(stock.len() * 64);
    let mut split = String::with_capacity(stock.len() * 64);
    for s in stock {
        text(&mut totals, s.sku.as_str());
        let _ = writeln!(totals, ",{},{}", s.product_id.as_uuid(), s.total());
        for (warehouse, units) in &s.warehouses {
            if *warehouse != WarehouseId::DEFAULT {
                text(&mut split, s.sku.as_str());
                let _ = writeln!(split, ",{},{},0", warehouse.as_uuid(), units.get());
            }
        }
    }
    (totals, split)
}

struct OrderCsv {
    orders: String,
    items: String,
    payments: String,
}

fn order_csv(orders: &[Order]) -> Result<OrderCsv> {
    let mut csv = OrderCsv {
        orders: String::with_capacity(orders.len() * 200),
        items: String::with_capacity(orders.len() * 400),
        payments: String::with_capacity(orders.len() * 200),
    };
    for o in orders {
        if o.status == OrderStatus::Pending || o.status == OrderStatus::Queued {
            return Err(Error::invalid(
                "status",
                format!("order {}: only settled orders are loaded", o.id),
            ));
        }
        let out = &mut csv.orders;
        let _ = write!(out, "{},", o.id.as_uuid());
        text(out, o.customer_id.as_str());
        out.push(',');
        optional(out, o.customer_name.as_ref().map(|n| n.as_str()));
        let _ = write!(
            out,
            ",{},{},{},",
            o.status.as_str(),
            o.total.amount(),
            o.total.currency().as_str()
        );
        time(out, o.created_at);
        out.push(',');
        time(out, o.updated_at);
        out.push(',');
        if o.status.is_sale() {
            time(out, o.created_at);
        }
        out.push(',');
        if o.status == OrderStatus::Delivered {
            time(out, o.updated_at);
        }
        out.push(',');
        optional(out, o.failure_reason.as_deref());
        out.push('\n');

        for (n, i) in o.items.iter().enumerate() {
            let out = &mut csv.items;
            let _ = write!(
                out,
                "{},{},{},",
                o.id.as_uuid(),
                n + 1,
                i.product_id.as_uuid()
            );
            text(out, i.sku.as_str());
            out.push(',');
            text(out, i.name.as_str());
            out.push(',');
            text(out, i.category.as_str());
            out.push(',');
            if let Some(s) = i.supplier_id {
                let _ = write!(out, "{}", s.as_uuid());
            }
            let _ = writeln!(
                out,
                ",{},{},{}",
                i.quantity.get(),
                i.unit_price.amount(),
                i.line_total.amount()
            );
        }

        let Some(p) = &o.payment else {
            return Err(Error::invalid(
                "payment",
                format!("order {}: a settled order has a payment", o.id),
            ));
        };
        let out = &mut csv.payments;
        let _ = write!(
            out,
            "{},{},{},{},{},",
            p.id.as_uuid(),
            o.id.as_uuid(),
            p.status.as_str(),
            p.amount.amount(),
            p.amount.currency().as_str()
        );
        text(out, &p.method);
        out.push(',');
        optional(out, p.gateway_ref.as_deref());
        out.push(',');
        optional(out, p.decline_reason.as_deref());
        out.push(',');
        time(out, p.created_at);
        out.push(',');
        time(out, p.updated_at);
        out.push('\n');
    }
    Ok(csv)
}

#[async_trait]
impl LedgerLoad for PgLedger {
    #[tracing::instrument(name = "pg.load.stock", skip_all, fields(count = stock.len()))]
    async fn load_stock(&self, stock: &[StockLoad]) -> Result<()> {
        if stock.is_empty() {
            return Ok(());
        }
        let (totals, split) = stock_csv(stock);
        let skus: Vec<&str> = stock.iter().map(|s| s.sku.as_str()).collect();
        let run = async {
            let mut tx = self.pool.begin().await?;
            copy(
                &mut tx,
                "COPY inventory (sku, product_id, on_hand) FROM STDIN (FORMAT csv)",
                totals,
            )
            .await?;
            if !split.is_empty() {
                copy(
                    &mut tx,
                    "COPY warehouse_stock (sku, warehouse_id, on_hand, reserved) FROM STDIN (FORMAT csv)",
                    split,
                )
                .await?;
                sqlx::query(
                    "UPDATE warehouse_stock w SET on_hand = i.on_hand - o.others \
                       FROM inventory i, \
                            (SELECT sku, SUM(on_hand)::int4 AS others FROM warehouse_stock \
                              WHERE sku = ANY($1) AND warehouse_id <> $2 GROUP BY sku) o \
                      WHERE w.sku = o.sku AND i.sku = o.sku AND w.warehouse_id = $2",
                )
                .bind(&skus)
                .bind(WarehouseId::DEFAULT.as_uuid())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, Failure>(())
        };
        Ok(run.await?)
    }

    #[tracing::instrument(name = "pg.load.orders", skip_all, fields(count = orders.len()))]
    async fn load_orders(&self, orders: &[Order]) -> Result<()> {
        if orders.is_empty() {
            return Ok(());
        }
        let csv = order_csv(orders)?;
        let run = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT set_config('emporium.load', 'history', true)")
                .execute(&mut *tx)
                .await?;
            copy(
                &mut tx,
                "COPY orders (id, customer_id, customer_name, status, total, currency, created_at, \
                              updated_at, confirmed_at, delivered_at, failure_reason) \
                 FROM STDIN (FORMAT csv)",
                csv.orders,
            )
            .await?;
            copy(
                &mut tx,
                "COPY order_items (order_id, line_no, product_id, sku, name, category, supplier_id, \
                                   quantity, unit_price, line_total) FROM STDIN (FORMAT csv)",
                csv.items,
            )
            .await?;
            copy(
                &mut tx,
                "COPY payments (id, order_id, status, amount, currency, method, gateway_ref, \
                                decline_reason, created_at, updated_at) FROM STDIN (FORMAT csv)",
                csv.payments,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, Failure>(())
        };
        Ok(run.await?)
    }

    #[tracing::instrument(name = "pg.load.finish", skip_all)]
    async fn finish_load(&self) -> Result<()> {
        sqlx::query("ANALYZE inventory, warehouse_stock, orders, order_items, payments")
            .execute(&self.pool)
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    #[tracing::instrument(name = "pg.load.order_count", skip_all)]
    async fn order_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&self.pool)
            .await
            .map_err(Failure::from)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
