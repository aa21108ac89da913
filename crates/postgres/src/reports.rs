//! [`SalesReports`] on PostgreSQL (ADR 0012): a rollup of sales per UTC day and month,
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
//! line.

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
use sqlx::query::{QueryAs, QueryScalar};
use sqlx::{FromRow, PgConnection, Postgres};
use uuid::Uuid;

/// Orders folded per statement; a fold repeats until a batch comes back short.
const FOLD_BATCH: i64 = 5_000;

/// The statuses that are sales, as SQL.
const SALE: &str = "('confirmed', 'shipped', 'delivered')";

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
              ORDER BY id LIMIT $1 \
                FOR NO KEY UPDATE), \
         grains (grain) AS (VALUES ('day'), ('month')), \
         line_deltas AS ( \
             SELECT g.grain, date_trunc(g.grain, t.created_at AT TIME ZONE 'UTC')::date AS bucket, \
                    i.product_id, i.sku, i.category, i.supplier_id, t.currency, \
                    SUM((t.sale::int - t.rolled_sale::int) * i.quantity)::int8 AS units, \
                    SUM((t.sale::int - t.rolled_sale::int) * i.line_total) AS revenue \
               FROM todo t JOIN order_items i ON i.order_id = t.id CROSS JOIN grains g \
              WHERE t.sale <> t.rolled_sale \
              GROUP BY 1, 2, 3, 4, 5, 6, 7), \
         sales AS ( \
             INSERT INTO sales_rollup AS r \
                    (grain, bucket, product_id, sku, category, supplier_id, currency, units, revenue) \
             SELECT * FROM line_deltas \
             ON CONFLICT ON CONSTRAINT sales_rollup_key DO UPDATE \
                SET units = r.units + EXCLUDED.units, revenue = r.revenue + EXCLUDED.revenue), \
         order_suppliers AS ( \
             SELECT DISTINCT t.id, t.created_at, i.supplier_id, \
                    t.sale::int - t.rolled_sale::int AS sale_delta, \
                    t.delivered::int - t.rolled_delivered::int AS delivered_delta, \
                    COALESCE(FLOOR(EXTRACT(EPOCH FROM t.delivered_at - t.confirmed_at)), 0) AS seconds \
               FROM todo t JOIN order_items i ON i.order_id = t.id \
              WHERE i.supplier_id IS NOT NULL), \
         supplier_deltas AS ( \
             SELECT g.grain, date_trunc(g.grain, s.created_at AT TIME ZONE 'UTC')::date AS bucket, \
                    s.supplier_id, SUM(s.sale_delta)::int8 AS orders, \
                    SUM(s.delivered_delta)::int8 AS delivered_orders, \
                    SUM(s.delivered_delta * s.seconds) AS delivery_seconds \
               FROM order_suppliers s CROSS JOIN grains g \
              WHERE s.sale_delta <> 0 OR s.delivered_delta <> 0 \
              GROUP BY 1, 2, 3), \
         suppliers AS ( \
             INSERT INTO supplier_rollup AS r \
                    (grain, bucket, supplier_id, orders, delivered_orders, delivery_seconds) \
             SELECT * FROM supplier_deltas \
             ON CONFLICT (grain, bucket, supplier_id) DO UPDATE \
                SET orders = r.orders + EXCLUDED.orders, \
                    delivered_orders = r.delivered_orders + EXCLUDED.delivered_orders, \
                    delivery_seconds = r.delivery_seconds + EXCLUDED.delivery_seconds) \
         UPDATE orders o SET rolled_sale = t.sale, rolled_delivered = t.delivered \
           FROM todo t WHERE o.id = t.id"
    );
    let mut folded = 0;
    loop {
        let done = sqlx::query(&sql)
            .bind(FOLD_BATCH)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        folded += done;
        if done < FOLD_BATCH as u64 {
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
/// monthly one. Every range is half-open and may be empty; together they are the window,
/// each instant in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    lo: DateTime<Utc>,
    head: NaiveDate,
    months: (NaiveDate, NaiveDate),
    tail: NaiveDate,
    hi: DateTime<Utc>,
}

impl Split {
    fn of(window: &SalesWindow) -> Split {
        let lo = window.from().unwrap_or_else(open_start);
        let hi = window.to().unwrap_or_else(open_end).max(lo);
        let head = ceil_day(lo);
        let tail = hi.date_naive().max(head);
        let first_month = ceil_month(head).min(tail);
        let last_month = floor_month(tail).max(first_month);
        Split {
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

/// The sales lines of a window, as a CTE named `sales` (product_id, sku, category,
/// supplier_id, currency, units, revenue), and the orders of its partial days as `edge`
/// (id, status, confirmed_at, delivered_at). Parameters `$1`-`$8`, bound by [`bind_split`].
fn sales_cte() -> String {
    format!(
        "WITH edge AS ( \
             SELECT id, status, currency, confirmed_at, delivered_at FROM orders \
              WHERE status IN {SALE} \
                AND ((created_at >= $1 AND created_at < $2) OR (created_at >= $3 AND created_at < $4))), \
         sales AS ( \
             SELECT product_id, sku, category, supplier_id, currency, units, revenue \
               FROM sales_rollup \
              WHERE (grain = 'day' AND ((bucket >= $5 AND bucket < $6) OR (bucket >= $7 AND bucket < $8))) \
                 OR (grain = 'month' AND bucket >= $6 AND bucket < $7) \
             UNION ALL \
             SELECT i.product_id, i.sku, i.category, i.supplier_id, e.currency, i.quantity, i.line_total \
               FROM edge e JOIN order_items i ON i.order_id = e.id)"
    )
}

fn bind_split<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    split: &Split,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(split.lo)
        .bind(split.head_instant())
        .bind(split.tail_instant())
        .bind(split.hi)
        .bind(split.head)
        .bind(split.months.0)
        .bind(split.months.1)
        .bind(split.tail)
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
    let currency = Currency::parse(currency.trim()).map_err(|e| corrupt("sales_rollup", e))?;
    Revenue::new(amount, currency).map_err(|e| corrupt("sales_rollup", e))
}

/// Runs one report query (the window's `sales` CTE, then `$9`/`$10` as limit and offset);
/// every row carries the number of rows of the whole report as `total`. A page past the end
/// has no row to carry it, so the total then comes from the same query without the page.
async fn report<R>(
    conn: &mut PgConnection,
    select: &str,
    window: &SalesWindow,
    page: PageRequest,
) -> PgResult<(Vec<R>, u64)>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin + Totalled,
{
    let split = Split::of(window);
    let (limit, offset) = bounds(page);
    let sql = format!("{} {select} LIMIT $9 OFFSET $10", sales_cte());
    let rows: Vec<R> = bind_split(sqlx::query_as(&sql), &split)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let total = match rows.first() {
        Some(row) => row.total(),
        None if offset > 0 => {
            let sql = format!("{} SELECT count(*) FROM ({select}) AS report", sales_cte());
            let n: i64 = bind_split_scalar(sqlx::query_scalar(&sql), &split)
                .fetch_one(&mut *conn)
                .await?;
            count(n)
        }
        None => 0,
    };
    Ok((rows, total))
}

fn bind_split_scalar<'q>(
    query: QueryScalar<'q, Postgres, i64, PgArguments>,
    split: &Split,
) -> QueryScalar<'q, Postgres, i64, PgArguments> {
    query
        .bind(split.lo)
        .bind(split.head_instant())
        .bind(split.tail_instant())
        .bind(split.hi)
        .bind(split.head)
        .bind(split.months.0)
        .bind(split.months.1)
        .bind(split.tail)
}

/// A report row that carries the report's row count.
trait Totalled {
    fn total(&self) -> u64;
}

#[derive(FromRow)]
struct ProductRow {
    product_id: Uuid,
    sku: String,
    currency: String,
    units: i64,
    revenue: Decimal,
    total: i64,
}

#[derive(FromRow)]
struct CategoryRow {
    category: String,
    currency: String,
    units: i64,
    revenue: Decimal,
    total: i64,
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
    total: i64,
}

impl Totalled for ProductRow {
    fn total(&self) -> u64 {
        count(self.total)
    }
}

impl Totalled for CategoryRow {
    fn total(&self) -> u64 {
        count(self.total)
    }
}

impl Totalled for SupplierRow {
    fn total(&self) -> u64 {
        count(self.total)
    }
}

fn page_of<T>(items: Vec<T>, total: u64, page: PageRequest) -> Page<T> {
    Page {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }
}

impl PgLedger {
    /// A connection on which every order waiting for the rollup has just been folded in.
    async fn folded(&self) -> PgResult<sqlx::pool::PoolConnection<Postgres>> {
        let mut conn = self.pool.acquire().await?;
        fold(&mut conn).await?;
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
        let (rows, total) = report::<ProductRow>(
            &mut conn,
            "SELECT product_id, sku, currency, SUM(units)::int8 AS units, SUM(revenue) AS revenue, \
                    count(*) OVER ()::int8 AS total \
               FROM sales GROUP BY product_id, sku, currency HAVING SUM(units) <> 0 \
              ORDER BY revenue DESC, product_id, sku COLLATE \"C\", currency",
            &window,
            page,
        )
        .await?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(ProductSales {
                    product_id: ProductId::from_uuid(r.product_id),
                    sku: Sku::parse(r.sku).map_err(|e| corrupt("sales_rollup", e))?,
                    units: count(r.units),
                    revenue: revenue(r.revenue, &r.currency)?,
                })
            })
            .collect::<PgResult<Vec<_>>>()?;
        Ok(page_of(items, total, page))
    }

    async fn sales_by_category(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<CategorySales>> {
        let mut conn = self.folded().await?;
        let (rows, total) = report::<CategoryRow>(
            &mut conn,
            "SELECT category, currency, SUM(units)::int8 AS units, SUM(revenue) AS revenue, \
                    count(*) OVER ()::int8 AS total \
               FROM sales GROUP BY category, currency HAVING SUM(units) <> 0 \
              ORDER BY revenue DESC, category COLLATE \"C\", currency",
            &window,
            page,
        )
        .await?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(CategorySales {
                    category: Category::parse(r.category)
                        .map_err(|e| corrupt("sales_rollup", e))?,
                    units: count(r.units),
                    revenue: revenue(r.revenue, &r.currency)?,
                })
            })
            .collect::<PgResult<Vec<_>>>()?;
        Ok(page_of(items, total, page))
    }

    async fn sales_by_supplier(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<SupplierSales>> {
        let mut conn = self.folded().await?;
        let (rows, total) = report::<SupplierRow>(
            &mut conn,
            "SELECT p.supplier_id, p.currency, p.units, p.revenue, \
                    COALESCE(d.orders, 0)::int8 AS orders, \
                    COALESCE(d.delivered_orders, 0)::int8 AS delivered_orders, \
                    COALESCE(d.delivery_seconds, 0) AS delivery_seconds, \
                    count(*) OVER ()::int8 AS total \
               FROM (SELECT supplier_id, currency, SUM(units)::int8 AS units, SUM(revenue) AS revenue \
                       FROM sales WHERE supplier_id IS NOT NULL \
                      GROUP BY supplier_id, currency HAVING SUM(units) <> 0) p \
               LEFT JOIN ( \
                    SELECT supplier_id, SUM(orders) AS orders, \
                           SUM(delivered_orders) AS delivered_orders, \
                           SUM(delivery_seconds) AS delivery_seconds \
                      FROM (SELECT supplier_id, orders, delivered_orders, delivery_seconds \
                              FROM supplier_rollup \
                             WHERE (grain = 'day' AND ((bucket >= $5 AND bucket < $6) OR (bucket >= $7 AND bucket < $8))) \
                                OR (grain = 'month' AND bucket >= $6 AND bucket < $7) \
                            UNION ALL \
                            SELECT s.supplier_id, 1, (e.status = 'delivered')::int, \
                                   CASE WHEN e.status = 'delivered' \
                                        THEN COALESCE(FLOOR(EXTRACT(EPOCH FROM e.delivered_at - e.confirmed_at)), 0) \
                                        ELSE 0 END \
                              FROM edge e \
                              JOIN LATERAL (SELECT DISTINCT i.supplier_id FROM order_items i \
                                             WHERE i.order_id = e.id AND i.supplier_id IS NOT NULL) s ON true \
                           ) AS parts \
                     GROUP BY supplier_id) d USING (supplier_id) \
              ORDER BY p.revenue DESC, p.supplier_id, p.currency",
            &window,
            page,
        )
        .await?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(SupplierSales {
                    supplier_id: SupplierId::from_uuid(r.supplier_id),
                    units: count(r.units),
                    revenue: revenue(r.revenue, &r.currency)?,
                    orders: count(r.orders),
                    delivered_orders: count(r.delivered_orders),
                    delivery_seconds: r.delivery_seconds.trunc().try_into().unwrap_or_default(),
                })
            })
            .collect::<PgResult<Vec<_>>>()?;
        Ok(page_of(items, total, page))
    }

    async fn catch_up(&self) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(Failure::from)?;
        Ok(fold(&mut conn).await?)
    }

    async fn low_stock(&self, at_most: Units, page: PageRequest) -> Result<Page<StockLevel>> {
        let (limit, offset) = bounds(page);
        let at_most = sql_units(at_most);
        let sql = format!(
            "SELECT {STOCK_COLUMNS}, count(*) OVER ()::int8 AS total FROM inventory \
              WHERE on_hand - reserved <= $1 \
              ORDER BY on_hand - reserved, sku COLLATE \"C\" LIMIT $2 OFFSET $3"
        );
        let rows: Vec<LowRow> = sqlx::query_as(&sql)
            .bind(at_most)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(Failure::from)?;
        let total = match rows.first() {
            Some(row) => count(row.total),
            None if offset > 0 => count(
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM inventory WHERE on_hand - reserved <= $1",
                )
                .bind(at_most)
                .fetch_one(&self.pool)
                .await
                .map_err(Failure::from)?,
            ),
            None => 0,
        };
        let items = rows
            .into_iter()
            .map(|r| r.level.into_level())
            .collect::<PgResult<Vec<_>>>()?;
        Ok(page_of(items, total, page))
    }
}

#[derive(FromRow)]
struct LowRow {
    #[sqlx(flatten)]
    level: StockRow,
    total: i64,
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
