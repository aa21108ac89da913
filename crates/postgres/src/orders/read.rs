//! Reading whole orders: the order row, its lines in line order and its payment.
//!
//! Lines and payments are fetched for a whole set of orders at once (`= ANY($1)`), so a page
//! of fifty orders costs three queries, not a hundred and one.

use crate::error::PgResult;
use crate::rows::{ItemRow, OrderRow, PaymentRow, ITEM_COLUMNS, ORDER_COLUMNS, PAYMENT_COLUMNS};
use crate::PgLedger;
use emporium_domain::model::{Order, OrderId, OrderQuery, Page};
use emporium_domain::Error;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

impl PgLedger {
    pub(super) async fn get_order(&self, id: OrderId) -> PgResult<Option<Order>> {
        let mut tx = self.pool.begin().await?;
        read_only_snapshot(&mut tx).await?;
        let order = load(&mut tx, id.as_uuid()).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// The count and the page come from one snapshot, so `total` always agrees with the
    /// rows even while orders are being placed.
    pub(super) async fn list_orders(&self, query: &OrderQuery) -> PgResult<Page<Order>> {
        let mut tx = self.pool.begin().await?;
        read_only_snapshot(&mut tx).await?;
        let total = count_matching(&mut tx, query).await?;
        let headers = page_of_headers(&mut tx, query).await?;
        let items = assemble(&mut tx, headers).await?;
        tx.commit().await?;
        Ok(Page {
            items,
            total,
            limit: query.page.limit,
            offset: query.page.offset,
        })
    }
}

/// The whole order `id`, if it exists, as the caller's transaction sees it.
pub(crate) async fn load(conn: &mut PgConnection, id: Uuid) -> PgResult<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1");
    let header: Option<OrderRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match header {
        Some(header) => Ok(assemble(conn, vec![header]).await?.pop()),
        None => Ok(None),
    }
}

/// The order of `header` with its lines and payment, as the caller's transaction sees them.
pub(crate) async fn whole(conn: &mut PgConnection, header: OrderRow) -> PgResult<Order> {
    let order = assemble(conn, vec![header]).await?.pop();
    Ok(order.ok_or(Error::NotFound("order"))?)
}

/// Makes the current transaction a read-only snapshot: every later statement in it sees
/// the database as of its first one. Must be its first statement.
async fn read_only_snapshot(conn: &mut PgConnection) -> PgResult<()> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(conn)
        .await?;
    Ok(())
}

async fn count_matching(conn: &mut PgConnection, query: &OrderQuery) -> PgResult<u64> {
    let mut sql = QueryBuilder::new("SELECT count(*) FROM orders o");
    push_filters(&mut sql, query);
    let count: i64 = sql.build_query_scalar().fetch_one(conn).await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// The order rows of the requested page, oldest first, ties by id.
async fn page_of_headers(conn: &mut PgConnection, query: &OrderQuery) -> PgResult<Vec<OrderRow>> {
    let mut sql = QueryBuilder::new(format!("SELECT {ORDER_COLUMNS} FROM orders o"));
    push_filters(&mut sql, query);
    sql.push(" ORDER BY o.created_at, o.id LIMIT ")
        .push_bind(i64::from(query.page.limit))
        .push(" OFFSET ")
        .push_bind(i64::try_from(query.page.offset).unwrap_or(i64::MAX));
    Ok(sql.build_query_as().fetch_all(conn).await?)
}

/// The `WHERE` clause of [`OrderQuery::matches`]: only the filters that are set, so each
/// query can use the index made for its filter.
fn push_filters<'q>(sql: &mut QueryBuilder<'q, Postgres>, query: &'q OrderQuery) {
    sql.push(" WHERE TRUE");
    if let Some(status) = query.status {
        sql.push(" AND o.status = ").push_bind(status.as_str());
    }
    if let Some(customer) = &query.customer_id {
        sql.push(" AND o.customer_id = ")
            .push_bind(customer.as_str());
    }
    if let Some(product) = query.product_id {
        sql.push(
            " AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.product_id = ",
        )
        .push_bind(product.as_uuid())
        .push(")");
    }
    if let Some(from) = query.from {
        sql.push(" AND o.created_at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(" AND o.created_at < ").push_bind(to);
    }
}

/// Whole orders for `headers`, in the same order: one query for all their lines and one
/// for all their payments.
async fn assemble(conn: &mut PgConnection, headers: Vec<OrderRow>) -> PgResult<Vec<Order>> {
    if headers.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = headers.iter().map(|h| h.id).collect();
    let mut items = items_by_order(conn, &ids).await?;
    let mut payments = payments_by_order(conn, &ids).await?;
    headers
        .into_iter()
        .map(|header| {
            let currency = header.currency()?;
            let lines = items
                .remove(&header.id)
                .unwrap_or_default()
                .into_iter()
                .map(|item| item.into_item(currency))
                .collect::<PgResult<Vec<_>>>()?;
            let payment = payments
                .remove(&header.id)
                .map(PaymentRow::into_payment)
                .transpose()?;
            header.into_order(lines, payment)
        })
        .collect()
}

/// The lines of `ids`, grouped per order, each group in line order.
async fn items_by_order(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> PgResult<HashMap<Uuid, Vec<ItemRow>>> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM order_items WHERE order_id = ANY($1) \
         ORDER BY order_id, line_no"
    );
    let rows: Vec<ItemRow> = sqlx::query_as(&sql).bind(ids).fetch_all(conn).await?;
    let mut grouped: HashMap<Uuid, Vec<ItemRow>> = HashMap::new();
    for row in rows {
        grouped.entry(row.order_id).or_default().push(row);
    }
    Ok(grouped)
}

async fn payments_by_order(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> PgResult<HashMap<Uuid, PaymentRow>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = ANY($1)");
    let rows: Vec<PaymentRow> = sqlx::query_as(&sql).bind(ids).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|p| (p.order_id, p)).collect())
}
