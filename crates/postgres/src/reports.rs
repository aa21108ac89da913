//! [`SalesReports`] on PostgreSQL (ADR 0012): a rollup of sales per UTC day, month and
//! all time, one table per report (`product_sales`, `category_sales`, `supplier_sales`),
//! folded in from order status changes, read together with the order lines of the partial
//! days at a window's ends.
//!
//! **Folding.** An order whose status says *sale* (or *delivered*) while its `rolled_*`
//! flags say otherwise is waiting to be folded in; a partial index holds exactly those.
//! [`fold`] takes a batch of them under their row locks, adds (or, for a sale cancelled
//! later, subtracts) their lines to the rollup, and sets the flags, in one statement. The
//! supervisor folds every second, and every report folds first, so a report counts every
//! order settled before it was asked for. The placement path pays nothing but the index
//! entry of a status change.
//!
//! **Reading.** A window `[from, to)` splits into whole months, whole days around them,
//! and the partial days at its ends ([`Split`]); the first three come from the rollup, the
//! last from the lines. A year of sales is then about twelve rows per product, not one per
//! line, and an open window one row per product (or category, or supplier).

use crate::error::{corrupt, Failure, PgResult};
use crate::rows::{sql_units, StockRow, STOCK_COLUMNS};
use crate::PgLedger;
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use emporium_domain::model::{
    Category, CategorySales, Currency, Page, PageRequest, ProductId, ProductSales, Revenue,
    SalesWindow, Sku, StockLevel, SupplierId, SupplierSales, Units,
};
use emporium_domain::ports::SalesReports;
use emporium_domain::Result;
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, FromRow, PgConnection, Postgres};
use uuid::Uuid;

/// Orders folded per statement; a fold repeats until a batch comes back short. Written
/// into the SQL, not bound: the planner must know the batch is small, or it joins the
/// batch back to `orders` by scanning the whole table (55 ms at 500,000 orders, for a fold
/// that finds nothing, instead of 0.6 ms).
const FOLD_BATCH: u64 = 500;

/// The statuses that are sales, as SQL.
const SALE: &str = "('confirmed', 'shipped', 'delivered')";

/// The bucket of `created_at` in grain `grain` (SQL expression).
const BUCKET: &str = "CASE WHEN g.grain = 'all' THEN DATE '1970-01-01' \
     ELSE date_trunc(g.grain, created_at AT TIME ZONE 'UTC')::date END";

/// Folds every order waiting for it into the rollup; returns how many were folded.
pub(crate) async fn fold(conn: &mut PgConnection) -> PgResult<u64> {
    let sql = format!(
        "WITH todo AS ( \
             SELECT id, currency, created_at, confirmed_at, delivered_at, \
                    status IN {SALE} AS sale, status = 'delivered' AS delivered, \
                    rolled_sale, rolled_delivered \
               FROM orders \
              WHERE rolled_sale <> (status IN {SALE}) \
                 OR rolled_delivered <> (status = 'delivered') \
              ORDER BY id LIMIT {FOLD_BATCH} \
                FOR NO KEY UPDATE), \
         grains (grain) AS (VALUES ('day'), ('month'), ('all')), \
         lines AS ( \
             SELECT t.created_at, t.currency, i.product_id, i.sku, i.category, \
                    t.sale::int - t.rolled_sale::int AS sign, i.quantity, i.line_total \
               FROM todo t JOIN order_items i ON i.order_id = t.id \
              WHERE t.sale <> t.rolled_sale), \
         products AS ( \
             INSERT INTO product_sales AS r (grain, bucket, product_id, sku, currency, units, revenue) \
             SELECT g.grain, {BUCKET}, product_id, sku, currency, \
                    SUM(sign * quantity)::int8, SUM(sign * line_total) \
               FROM lines CROSS JOIN grains g GROUP BY 1, 2, 3, 4, 5 \
             ON CONFLICT (grain, bucket, product_id, sku, currency) DO UPDATE \
                SET units = r.units + EXCLUDED.units, revenue = r.revenue + EXCLUDED.revenue), \
         categories AS ( \
             INSERT INTO category_sales AS r (grain, bucket, category, currency, units, revenue) \
             SELECT g.grain, {BUCKET}, category, currency, \
                    SUM(sign * quantity)::int8, SUM(sign * line_total) \
               FROM lines CROSS JOIN grains g GROUP BY 1, 2, 3, 4 \
             ON CONFLICT (grain, bucket, category, currency) DO UPDATE \
                SET units = r.units + EXCLUDED.units, revenue = r.revenue + EXCLUDED.revenue), \
         per_supplier AS ( \
             SELECT t.id, t.created_at, t.currency, i.supplier_id, \
                    t.sale::int - t.rolled_sale::int AS sale_delta, \
                    t.delivered::int - t.rolled_delivered::int AS delivered_delta, \
                    COALESCE(FLOOR(EXTRACT(EPOCH FROM t.delivered_at - t.confirmed_at)), 0) AS seconds, \
                    SUM(i.quantity) AS quantity, SUM(i.line_total) AS line_total \
               FROM todo t JOIN order_items i ON i.order_id = t.id \
              WHERE i.supplier_id IS NOT NULL \
                AND (t.sale <> t.rolled_sale OR t.delivered <> t.rolled_delivered) \
              GROUP BY t.id, t.created_at, t.currency, i.supplier_id, t.sale, t.rolled_sale, \
                       t.delivered, t.rolled_delivered, t.delivered_at, t.confirmed_at), \
         suppliers AS ( \
             INSERT INTO supplier_sales AS r (grain, bucket, supplier_id, currency, units, revenue, \
                                              orders, delivered_orders, delivery_seconds) \
             SELECT g.grain, {BUCKET}, supplier_id, currency, \
                    SUM(sale_delta * quantity)::int8, SUM(sale_delta * line_total), \
                    SUM(sale_delta)::int8, SUM(delivered_delta)::int8, \
                    SUM(delivered_delta * seconds) \
               FROM per_supplier CROSS JOIN grains g GROUP BY 1, 2, 3, 4 \
             ON CONFLICT (grain, bucket, supplier_id, currency) DO UPDATE \
                SET units = r.units + EXCLUDED.units, revenue = r.revenue + EXCLUDED.revenue, \
                    orders = r.orders + EXCLUDED.orders, \
                    delivered_orders = r.delivered_orders + EXCLUDED.delivered_orders, \
                    delivery_seconds = r.delivery_seconds + EXCLUDED.delivery_seconds) \
         UPDATE orders o SET rolled_sale = t.sale, rolled_delivered = t.delivered \
           FROM todo t WHERE o.id = t.id"
    );
    let mut folded = 0;
    loop {
        let done = sqlx::query(&sql).execute(&mut *conn).await?.rows_affected();
        folded += done;
        if done < FOLD_BATCH {
            return Ok(folded);
        }
    }
}

/// The earliest and latest instants a window's open ends stand for.
fn open_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn open_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// How a window `[lo, hi)` is read: `[lo, head)` and `[tail, hi)` from the order lines,
/// `[head, months.0)` and `[months.1, tail)` from the daily rollup, `months` from the
/// monthly one; an open window from the all-time rows alone. Every range is half-open and may be empty; together they are the window,
/// each instant in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    /// An open window: the all-time rows, nothing else.
    whole: bool,
    lo: DateTime<Utc>,
    head: NaiveDate,
    months: (NaiveDate, NaiveDate),
    tail: NaiveDate,
    hi: DateTime<Utc>,
}

impl Split {
    fn of(window: &SalesWindow) -> Split {
        if window.from().is_none() && window.to().is_none() {
            let start = open_start();
            let day = start.date_naive();
            return Split {
                whole: true,
                lo: start,
                head: day,
                months: (day, day),
                tail: day,
                hi: start,
            };
        }
        let lo = window.from().unwrap_or_else(open_start);
        let hi = window.to().unwrap_or_else(open_end).max(lo);
        let head = ceil_day(lo);
        let tail = hi.date_naive().max(head);
        let first_month = ceil_month(head).min(tail);
        let last_month = floor_month(tail).max(first_month);
        Split {
            whole: false,
            lo,
            head,
            months: (first_month, last_month),
            tail,
            hi,
        }
    }

    fn head_instant(&self) -> DateTime<Utc> {
        midnight(self.head).min(self.hi)
    }

    fn tail_instant(&self) -> DateTime<Utc> {
        midnight(self.tail).max(self.head_instant())
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The first midnight at or after `t`.
fn ceil_day(t: DateTime<Utc>) -> NaiveDate {
    let day = t.date_naive();
    if midnight(day) == t {
        day
    } else {
        day + Duration::days(1)
    }
}

/// The first first-of-month at or after `day`.
fn ceil_month(day: NaiveDate) -> NaiveDate {
    let first = floor_month(day);
    if first == day {
        day
    } else {
        first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first)
    }
}

fn floor_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The sales of the window's partial days, as a CTE named `edge` (`$1`-`$4`).
const EDGE: &str = "WITH edge AS ( \
     SELECT id, status, currency, confirmed_at, delivered_at FROM orders \
      WHERE status IN ('confirmed', 'shipped', 'delivered') \
        AND ((created_at >= $1 AND created_at < $2) OR (created_at >= $3 AND created_at < $4)))";

/// The rollup rows of the window's whole days and months, or the all-time rows of an
/// open window (`$5`-`$9`).
const BUCKETS: &str =
    "((grain = 'day' AND ((bucket >= $5 AND bucket < $6) OR (bucket >= $7 AND bucket < $8))) \
     OR (grain = 'month' AND bucket >= $6 AND bucket < $7) \
     OR (grain = 'all' AND $9))";

/// `$1`-`$9` of [`EDGE`] and [`BUCKETS`], then `extra` (a page's limit and offset).
fn split_arguments(split: &Split, extra: &[i64]) -> PgResult<PgArguments> {
    let mut args = PgArguments::default();
    let failed = |e| corrupt("report arguments", e);
    args.add(split.lo).map_err(failed)?;
    args.add(split.head_instant()).map_err(failed)?;
    args.add(split.tail_instant()).map_err(failed)?;
    args.add(split.hi).map_err(failed)?;
    args.add(split.head).map_err(failed)?;
    args.add(split.months.0).map_err(failed)?;
    args.add(split.months.1).map_err(failed)?;
    args.add(split.tail).map_err(failed)?;
    args.add(split.whole).map_err(failed)?;
    for value in extra {
        args.add(*value).map_err(failed)?;
    }
    Ok(args)
}

/// `LIMIT` and `OFFSET` of a page.
fn bounds(page: PageRequest) -> (i64, i64) {
    (
        i64::from(page.limit),
        i64::try_from(page.offset).unwrap_or(i64::MAX),
    )
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

fn revenue(amount: Decimal, currency: &str) -> PgResult<Revenue> {
    let currency = Currency::parse(currency.trim()).map_err(|e| corrupt("report rollup", e))?;
    Revenue::new(amount, currency).map_err(|e| corrupt("report rollup", e))
}

/// A row of a paged query with `count(*) OVER () AS total`: the number of rows of the whole
/// query, carried by every row of the page.
#[derive(FromRow)]
struct Counted<Row> {
    #[sqlx(flatten)]
    row: Row,
    total: i64,
}

/// The page of `rows` (each mapped by `item`) and its total. A page past the end has no row
/// to carry the total, so it then comes from `recount`, which runs only in that case.
async fn into_page<R, T>(
    rows: Vec<Counted<R>>,
    page: PageRequest,
    recount: impl std::future::Future<Output = PgResult<i64>>,
    item: impl Fn(R) -> PgResult<T>,
) -> PgResult<Page<T>> {
    let total = match rows.first() {
        Some(first) => count(first.total),
        None if page.offset > 0 => count(recount.await?),
        None => 0,
    };
    let items = rows
        .into_iter()
        .map(|r| item(r.row))
        .collect::<PgResult<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Runs one report query (after the window's `edge` CTE, `$10`/`$11` as limit and offset;
/// `select` ends in `count(*) OVER () AS total`) and maps its rows with `item`.
async fn report<R, T>(
    conn: &mut PgConnection,
    select: &str,
    window: &SalesWindow,
    page: PageRequest,
    item: impl Fn(R) -> PgResult<T>,
) -> PgResult<Page<T>>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let split = Split::of(window);
    let (limit, offset) = bounds(page);
    let sql = format!("{EDGE} {select} LIMIT $10 OFFSET $11");
    let rows: Vec<Counted<R>> =
        sqlx::query_as_with(&sql, split_arguments(&split, &[limit, offset])?)
            .fetch_all(&mut *conn)
            .await?;
    let recount = async {
        let sql = format!("{EDGE} SELECT count(*) FROM ({select}) AS report");
        Ok(sqlx::query_scalar_with(&sql, split_arguments(&split, &[])?)
            .fetch_one(&mut *conn)
            .await?)
    };
    into_page(rows, page, recount, item).await
}

#[derive(FromRow)]
struct ProductRow {
    product_id: Uuid,
    sku: String,
    currency: String,
    units: i64,
    revenue: Decimal,
}

#[derive(FromRow)]
struct CategoryRow {
    category: String,
    currency: String,
    units: i64,
    revenue: Decimal,
}

#[derive(FromRow)]
struct SupplierRow {
    supplier_id: Uuid,
    currency: String,
    units: i64,
    revenue: Decimal,
    orders: i64,
    delivered_orders: i64,
    delivery_seconds: Decimal,
}

impl PgLedger {
    /// A connection on which every order waiting for the rollup has just been folded in.
    async fn folded(&self) -> PgResult<sqlx::pool::PoolConnection<Postgres>> {
        let mut conn = self.pool.acquire().await?;
        if !self.replica {
            fold(&mut conn).await?;
        }
        Ok(conn)
    }
}

#[async_trait]
impl SalesReports for PgLedger {
    async fn sales_by_product(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<ProductSales>> {
        let mut conn = self.folded().await?;
        Ok(report(
            &mut conn,
            &format!(
                "SELECT product_id, sku, currency, SUM(units)::int8 AS units, \
                        SUM(revenue) AS revenue, count(*) OVER ()::int8 AS total \
                   FROM (SELECT product_id, sku, currency, units, revenue \
                           FROM product_sales WHERE {BUCKETS} \
                         UNION ALL \
                         SELECT i.product_id, i.sku, e.currency, i.quantity, i.line_total \
                           FROM edge e JOIN order_items i ON i.order_id = e.id) AS s \
                  GROUP BY product_id, sku, currency HAVING SUM(units) <> 0 \
                  ORDER BY revenue DESC, product_id, sku COLLATE \"C\", currency"
            ),
            &window,
            page,
            |r: ProductRow| {
                Ok(ProductSales {
                    product_id: ProductId::from_uuid(r.product_id),
                    sku: Sku::parse(r.sku).map_err(|e| corrupt("report rollup", e))?,
                    units: count(r.units),
                    revenue: revenue(r.revenue, &r.currency)?,
                })
            },
        )
        .await?)
    }

    async fn sales_by_category(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<CategorySales>> {
        let mut conn = self.folded().await?;
        Ok(report(
            &mut conn,
            &format!(
                "SELECT category, currency, SUM(units)::int8 AS units, \
                        SUM(revenue) AS revenue, count(*) OVER ()::int8 AS total \
                   FROM (SELECT category, currency, units, revenue \
                           FROM category_sales WHERE {BUCKETS} \
                         UNION ALL \
                         SELECT i.category, e.currency, i.quantity, i.line_total \
                           FROM edge e JOIN order_items i ON i.order_id = e.id) AS s \
                  GROUP BY category, currency HAVING SUM(units) <> 0 \
                  ORDER BY revenue DESC, category COLLATE \"C\", currency"
            ),
            &window,
            page,
            |r: CategoryRow| {
                Ok(CategorySales {
                    category: Category::parse(r.category)
                        .map_err(|e| corrupt("report rollup", e))?,
                    units: count(r.units),
                    revenue: revenue(r.revenue, &r.currency)?,
                })
            },
        )
        .await?)
    }

    async fn sales_by_supplier(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<SupplierSales>> {
        let mut conn = self.folded().await?;
        Ok(report(
            &mut conn,
            &format!(
                "SELECT supplier_id, currency, SUM(units)::int8 AS units, \
                        SUM(revenue) AS revenue, SUM(orders)::int8 AS orders, \
                        SUM(delivered_orders)::int8 AS delivered_orders, \
                        SUM(delivery_seconds) AS delivery_seconds, count(*) OVER ()::int8 AS total \
                   FROM (SELECT supplier_id, currency, units, revenue, orders, delivered_orders, \
                                delivery_seconds \
                           FROM supplier_sales WHERE {BUCKETS} \
                         UNION ALL \
                         SELECT s.supplier_id, e.currency, s.units, s.revenue, 1, \
                                (e.status = 'delivered')::int, \
                                CASE WHEN e.status = 'delivered' \
                                     THEN COALESCE(FLOOR(EXTRACT(EPOCH FROM e.delivered_at - e.confirmed_at)), 0) \
                                     ELSE 0 END \
                           FROM edge e \
                           JOIN LATERAL (SELECT i.supplier_id, SUM(i.quantity) AS units, \
                                                SUM(i.line_total) AS revenue \
                                           FROM order_items i \
                                          WHERE i.order_id = e.id AND i.supplier_id IS NOT NULL \
                                          GROUP BY i.supplier_id) AS s ON true) AS x \
                  GROUP BY supplier_id, currency HAVING SUM(units) <> 0 \
                  ORDER BY revenue DESC, supplier_id, currency"
            ),
            &window,
            page,
            |r: SupplierRow| {
                Ok(SupplierSales {
                    supplier_id: SupplierId::from_uuid(r.supplier_id),
                    units: count(r.units),
                    revenue: revenue(r.revenue, &r.currency)?,
                    orders: count(r.orders),
                    delivered_orders: count(r.delivered_orders),
                    delivery_seconds: r.delivery_seconds.trunc().try_into().unwrap_or_default(),
                })
            },
        )
        .await?)
    }

    async fn catch_up(&self) -> Result<u64> {
        if self.replica {
            return Ok(0);
        }
        let mut conn = self.pool.acquire().await.map_err(Failure::from)?;
        Ok(fold(&mut conn).await?)
    }

    async fn purchase_affinity(
        &self,
        customer: &emporium_domain::model::CustomerId,
        limit: u32,
    ) -> Result<emporium_domain::model::PurchaseAffinity> {
        // One statement: the customer's products (kind 0), then what other customers'
        // sales that share one of them also hold (kind 1), counted per sale.
        let rows: Vec<(i32, Uuid, i64)> = sqlx::query_as(
            "WITH mine AS ( \
                 SELECT DISTINCT i.product_id FROM orders o JOIN order_items i ON i.order_id = o.id \
                  WHERE o.customer_id = $1 AND o.status IN ('confirmed', 'shipped', 'delivered')), \
             peers AS ( \
                 SELECT DISTINCT o.id FROM order_items i JOIN orders o ON o.id = i.order_id \
                  WHERE i.product_id IN (SELECT product_id FROM mine) AND o.customer_id <> $1 \
                    AND o.status IN ('confirmed', 'shipped', 'delivered')), \
             co AS ( \
                 SELECT i.product_id, count(DISTINCT i.order_id)::int8 AS n \
                   FROM order_items i WHERE i.order_id IN (SELECT id FROM peers) \
                    AND i.product_id NOT IN (SELECT product_id FROM mine) \
                  GROUP BY i.product_id ORDER BY n DESC, i.product_id LIMIT $2) \
             SELECT 0, product_id, 0::int8 FROM mine \
             UNION ALL SELECT 1, product_id, n FROM co",
        )
        .bind(customer.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(Failure::from)?;
        let mut affinity = emporium_domain::model::PurchaseAffinity::default();
        for (kind, product, n) in rows {
            let product = emporium_domain::model::ProductId::from_uuid(product);
            if kind == 0 {
                affinity.bought.push(product);
            } else {
                affinity
                    .co_purchased
                    .push((product, u64::try_from(n).unwrap_or(0)));
            }
        }
        affinity.bought.sort();
        affinity
            .co_purchased
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(affinity)
    }

    async fn low_stock(&self, at_most: Units, page: PageRequest) -> Result<Page<StockLevel>> {
        let (limit, offset) = bounds(page);
        let at_most = sql_units(at_most);
        let sql = format!(
            "SELECT {STOCK_COLUMNS}, count(*) OVER ()::int8 AS total FROM inventory \
              WHERE on_hand - reserved <= $1 \
              ORDER BY on_hand - reserved, sku COLLATE \"C\" LIMIT $2 OFFSET $3"
        );
        let rows: Vec<Counted<StockRow>> = sqlx::query_as(&sql)
            .bind(at_most)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(Failure::from)?;
        let recount = async {
            Ok(
                sqlx::query_scalar("SELECT count(*) FROM inventory WHERE on_hand - reserved <= $1")
                    .bind(at_most)
                    .fetch_one(&self.pool)
                    .await?,
            )
        };
        Ok(into_page(rows, page, recount, StockRow::into_level).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn split(from: &str, to: &str) -> Split {
        Split::of(&SalesWindow::new(Some(at(from)), Some(at(to))).unwrap())
    }

    #[test]
    fn a_long_window_reads_months_days_and_partial_days() {
        let s = split("2026-11-10T10:00:00Z", "2027-02-03T06:00:00Z");
        assert_eq!(
            s.head_instant(),
            at("2026-11-11T00:00:00Z"),
            "lines of the first part-day"
        );
        assert_eq!(s.head, day("2026-11-11"), "then whole days");
        assert_eq!(
            s.months,
            (day("2026-12-01"), day("2027-02-01")),
            "then months"
        );
        assert_eq!(s.tail, day("2027-02-03"), "then whole days again");
        assert_eq!(
            s.tail_instant(),
            at("2027-02-03T00:00:00Z"),
            "then lines to the end"
        );
    }

    #[test]
    fn a_window_inside_one_day_reads_lines_only() {
        let s = split("2026-12-04T10:00:00Z", "2026-12-04T12:00:00Z");
        assert_eq!(s.head_instant(), s.hi, "every instant from the lines");
        assert!(s.tail_instant() >= s.hi, "nothing after");
        assert!(s.months.0 >= s.months.1, "no month");
        assert!(s.head >= s.months.0 && s.months.1 >= s.tail, "no day");
    }

    #[test]
    fn a_window_inside_one_month_reads_days_and_lines() {
        let s = split("2026-11-10T10:00:00Z", "2026-11-20T06:00:00Z");
        assert_eq!((s.head, s.tail), (day("2026-11-11"), day("2026-11-20")));
        assert_eq!(s.months.0, s.months.1, "no whole month");
    }

    #[test]
    fn aligned_and_open_windows_read_the_rollup_only() {
        let s = split("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z");
        assert_eq!(s.head_instant(), s.lo, "no partial day at the start");
        assert_eq!(s.tail_instant(), s.hi, "none at the end");
        assert_eq!(s.months, (day("2026-01-01"), day("2026-03-01")));
        let open = Split::of(&SalesWindow::default());
        assert_eq!(open.head_instant(), open.lo);
        assert_eq!(open.tail_instant(), open.hi);
        assert_eq!(
            (open.head, open.tail),
            open.months,
            "whole months end to end"
        );
    }
}
