//! Stock moves made by orders, inside the caller's transaction.
//!
//! Deadlock freedom rests on one rule: a transaction locks stock rows in SKU order, in byte
//! order (`COLLATE "C"`, the same order as Rust's `String`), and only after the order row.
//! Two baskets with the same SKUs in opposite line order then queue on the first shared row
//! instead of each holding what the other waits for.

use crate::error::PgResult;
use crate::rows::{StockRow, STOCK_COLUMNS};
use chrono::{DateTime, Utc};
use emporium_domain::model::{OrderItem, OrderStatus, StockLevel};
use emporium_domain::Shortfall;
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// What an order takes from one stock record: its lines for that SKU, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Demand {
    pub sku: String,
    pub units: i32,
}

/// The demand of `items` per SKU, in locking order.
pub(crate) fn demand_of(items: &[OrderItem]) -> Vec<Demand> {
    let mut per_sku: BTreeMap<&str, i64> = BTreeMap::new();
    for item in items {
        *per_sku.entry(item.sku.as_str()).or_default() += i64::from(item.quantity.get());
    }
    per_sku
        .into_iter()
        .map(|(sku, units)| Demand {
            sku: sku.to_owned(),
            // At most MAX_ORDER_LINES lines of Quantity::MAX units: far below i32::MAX.
            units: i32::try_from(units).unwrap_or(i32::MAX),
        })
        .collect()
}

/// Every line that cannot be served from `rows` (the locked or read stock of the order's
/// SKUs). A SKU without a row has 0 available; a SKU shared by several lines falls short
/// when the lines together ask for more than is available.
pub(crate) fn shortfalls(items: &[OrderItem], rows: &[StockRow]) -> Vec<Shortfall> {
    let demand = demand_of(items);
    let available = |sku: &str| {
        rows.iter()
            .find(|r| r.sku == sku)
            .map_or(0, StockRow::available)
    };
    let demanded = |sku: &str| {
        demand
            .iter()
            .find(|d| d.sku == sku)
            .map_or(0, |d| i64::from(d.units))
    };
    items
        .iter()
        .filter_map(|item| {
            let sku = item.sku.as_str();
            let available = available(sku);
            (demanded(sku) > available).then(|| Shortfall {
                product_id: item.product_id,
                requested: item.quantity.get(),
                available: u32::try_from(available.max(0)).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// How reserving an order's units went.
#[derive(Debug)]
pub(crate) enum Reservation {
    /// Every line is reserved; the stock records as they now are.
    Reserved,
    /// Nothing was reserved; these lines fall short.
    Short(Vec<Shortfall>),
    /// (Optimistic only) a row changed after it was read: roll back and try again.
    Contended,
}

/// Reserves every line of an order under row locks: lock, check, reserve.
///
/// An order of one SKU (most orders, and every order of a hot SKU) takes one statement:
/// a conditional `UPDATE` that checks and reserves under the row lock it takes. With one
/// row there is no locking order to keep, and the row is held one round trip less.
pub(crate) async fn reserve_locked(
    conn: &mut PgConnection,
    items: &[OrderItem],
    at: DateTime<Utc>,
) -> PgResult<Reservation> {
    let demand = demand_of(items);
    if let [only] = demand.as_slice() {
        if reserve_if_available(conn, only, at).await?.is_some() {
            return Ok(Reservation::Reserved);
        }
        // Short (or no record): the locking read below says by how much.
    }
    let rows = select_rows(conn, &demand, Lock::ForUpdate).await?;
    let short = shortfalls(items, &rows);
    if !short.is_empty() {
        return Ok(Reservation::Short(short));
    }
    let deltas: Vec<_> = demand
        .iter()
        .map(|d| Delta::reserve(&d.sku, d.units))
        .collect();
    apply(conn, &deltas, at).await?;
    Ok(Reservation::Reserved)
}

/// `reserved += units` on one SKU's record when it has that many available, in one
/// statement; `None` when it has not (or there is no record), with nothing changed.
async fn reserve_if_available(
    conn: &mut PgConnection,
    demand: &Demand,
    at: DateTime<Utc>,
) -> PgResult<Option<StockLevel>> {
    let sql = format!(
        "UPDATE inventory \
            SET reserved = reserved + $2, version = version + 1, updated_at = $3 \
          WHERE sku = $1 AND on_hand - reserved >= $2 \
      RETURNING {STOCK_COLUMNS}"
    );
    let row: Option<StockRow> = sqlx::query_as(&sql)
        .bind(&demand.sku)
        .bind(demand.units)
        .bind(at)
        .fetch_optional(conn)
        .await?;
    row.map(StockRow::into_level).transpose()
}

/// Reserves every line of an order without locking first: read with versions, check, then
/// reserve each row only if its version is still the one read.
pub(crate) async fn reserve_versioned(
    conn: &mut PgConnection,
    items: &[OrderItem],
    at: DateTime<Utc>,
) -> PgResult<Reservation> {
    let demand = demand_of(items);
    let rows = select_rows(conn, &demand, Lock::None).await?;
    let short = shortfalls(items, &rows);
    if !short.is_empty() {
        return Ok(Reservation::Short(short));
    }
    // Rows come back in SKU order, so the row locks the updates take follow the rule too.
    for row in &rows {
        let units = demand
            .iter()
            .find(|d| d.sku == row.sku)
            .map_or(0, |d| d.units);
        match reserve_if_unchanged(conn, row, units, at).await? {
            Some(_) => {}
            None => return Ok(Reservation::Contended),
        }
    }
    Ok(Reservation::Reserved)
}

/// `reserved += units` on `row` when its version is still `row.version`; `None` otherwise.
async fn reserve_if_unchanged(
    conn: &mut PgConnection,
    row: &StockRow,
    units: i32,
    at: DateTime<Utc>,
) -> PgResult<Option<StockRow>> {
    let sql = format!(
        "UPDATE inventory \
            SET reserved = reserved + $3, version = version + 1, updated_at = $4 \
          WHERE sku = $1 AND version = $2 \
      RETURNING {STOCK_COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(&row.sku)
        .bind(row.version)
        .bind(units)
        .bind(at)
        .fetch_optional(conn)
        .await?)
}

/// What an order status change does to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StockMove {
    /// `pending → confirmed`: the reservation becomes a sale (`on_hand -= q`, `reserved -= q`).
    Sell,
    /// `pending → cancelled | failed`: the reservation is released (`reserved -= q`).
    Release,
    /// `confirmed → cancelled`: the sold units go back on hand (`on_hand += q`).
    Restock,
}

impl StockMove {
    /// The stock move of `from → to`, `None` for moves that touch no stock.
    pub fn of(from: OrderStatus, to: OrderStatus) -> Option<StockMove> {
        if from.holds_reservation() && to.is_sale() {
            Some(StockMove::Sell)
        } else if from.holds_reservation() && !to.holds_reservation() {
            Some(StockMove::Release)
        } else if from.is_sale() && to == OrderStatus::Cancelled {
            Some(StockMove::Restock)
        } else {
            None
        }
    }

    /// What one unit of the move does to `(on_hand, reserved)`.
    pub fn per_unit(self) -> (i32, i32) {
        match self {
            StockMove::Sell => (-1, -1),
            StockMove::Release => (0, -1),
            StockMove::Restock => (1, 0),
        }
    }

    fn delta(self, sku: &str, units: i32) -> Delta<'_> {
        let (on_hand, reserved) = self.per_unit();
        Delta {
            sku,
            on_hand: on_hand * units,
            reserved: reserved * units,
        }
    }
}

/// Applies `mv` for an order's `demand` (its lines per SKU), with its warehouse split moved
/// in the same statement (one round trip while the SKUs' rows are locked): the totals
/// first, then, once they are locked, the warehouse rows the order's allocations name.
/// Several rows are locked in SKU order first; SKUs whose record no longer exists are
/// skipped. How many warehouse rows moved:
/// 0 for an order without a split.
pub(crate) async fn apply_order_move(
    conn: &mut PgConnection,
    order: uuid::Uuid,
    mv: StockMove,
    demand: &[Demand],
    at: DateTime<Utc>,
) -> PgResult<u64> {
    if demand.len() > 1 {
        select_rows(conn, demand, Lock::ForUpdate).await?;
    }
    let deltas: Vec<_> = demand.iter().map(|d| mv.delta(&d.sku, d.units)).collect();
    let skus: Vec<&str> = deltas.iter().map(|d| d.sku).collect();
    let on_hand: Vec<i32> = deltas.iter().map(|d| d.on_hand).collect();
    let reserved: Vec<i32> = deltas.iter().map(|d| d.reserved).collect();
    let (per_unit_on_hand, per_unit_reserved) = mv.per_unit();
    // `wh` reads `totals` (through the count), so the `inventory` rows are updated, and
    // locked, before any `warehouse_stock` row: the lock order of every other statement.
    let moved: i64 = sqlx::query_scalar(
        "WITH totals AS ( \
             UPDATE inventory AS i \
                SET on_hand = i.on_hand + d.on_hand, reserved = i.reserved + d.reserved, \
                    version = i.version + 1, updated_at = $4 \
               FROM UNNEST($1::text[], $2::int4[], $3::int4[]) AS d(sku, on_hand, reserved) \
              WHERE i.sku = d.sku \
          RETURNING i.sku), \
         wh AS ( \
             UPDATE warehouse_stock w \
                SET on_hand = w.on_hand + $6 * a.quantity, reserved = w.reserved + $7 * a.quantity \
               FROM order_allocations a, (SELECT count(*) AS n FROM totals) t \
              WHERE a.order_id = $5 AND w.sku = a.sku AND w.warehouse_id = a.warehouse_id \
                AND t.n > 0 \
          RETURNING 1) \
         SELECT count(*) FROM wh",
    )
    .bind(&skus)
    .bind(&on_hand)
    .bind(&reserved)
    .bind(at)
    .bind(order)
    .bind(per_unit_on_hand)
    .bind(per_unit_reserved)
    .fetch_one(conn)
    .await?;
    Ok(moved as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    ForUpdate,
}

/// The stock rows of `demand`'s SKUs in SKU order, locked as asked. `ORDER BY` sits below
/// the locking step in PostgreSQL's plan, so rows are locked in that order.
async fn select_rows(
    conn: &mut PgConnection,
    demand: &[Demand],
    lock: Lock,
) -> PgResult<Vec<StockRow>> {
    let skus: Vec<&str> = demand.iter().map(|d| d.sku.as_str()).collect();
    let lock = match lock {
        Lock::None => "",
        Lock::ForUpdate => "FOR UPDATE",
    };
    let sql = format!(
        "SELECT {STOCK_COLUMNS} FROM inventory WHERE sku = ANY($1) \
         ORDER BY sku COLLATE \"C\" {lock}"
    );
    Ok(sqlx::query_as(&sql).bind(&skus).fetch_all(conn).await?)
}

/// A change of one stock record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delta<'a> {
    sku: &'a str,
    on_hand: i32,
    reserved: i32,
}

impl<'a> Delta<'a> {
    fn reserve(sku: &'a str, units: i32) -> Self {
        Delta {
            sku,
            on_hand: 0,
            reserved: units,
        }
    }
}

/// Applies `deltas` in one statement to the rows that exist (bumping their version, which
/// optimistic readers compare). The rows must already be locked, so the update takes no
/// lock out of SKU order. The CHECK constraints refuse any result outside
/// `0 <= reserved <= on_hand`.
async fn apply(
    conn: &mut PgConnection,
    deltas: &[Delta<'_>],
    at: DateTime<Utc>,
) -> PgResult<Vec<StockLevel>> {
    let skus: Vec<&str> = deltas.iter().map(|d| d.sku).collect();
    let on_hand: Vec<i32> = deltas.iter().map(|d| d.on_hand).collect();
    let reserved: Vec<i32> = deltas.iter().map(|d| d.reserved).collect();
    let sql = format!(
        "UPDATE inventory AS i \
            SET on_hand = i.on_hand + d.on_hand, \
                reserved = i.reserved + d.reserved, \
                version = i.version + 1, \
                updated_at = $4 \
           FROM UNNEST($1::text[], $2::int4[], $3::int4[]) AS d(sku, on_hand, reserved) \
          WHERE i.sku = d.sku \
      RETURNING {}",
        qualified(STOCK_COLUMNS, "i")
    );
    let rows: Vec<StockRow> = sqlx::query_as(&sql)
        .bind(&skus)
        .bind(&on_hand)
        .bind(&reserved)
        .bind(at)
        .fetch_all(conn)
        .await?;
    let mut levels = rows
        .into_iter()
        .map(StockRow::into_level)
        .collect::<PgResult<Vec<_>>>()?;
    levels.sort_by(|a, b| a.sku.cmp(&b.sku));
    Ok(levels)
}

/// `"a, b"` qualified as `"t.a, t.b"`.
fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_domain::model::{Category, Currency, Money, Name, ProductId, Quantity, Sku};
    use uuid::Uuid;
    use OrderStatus::*;

    fn item(sku: &str, quantity: i64) -> OrderItem {
        let price = Money::parse("1.00", Currency::USD).unwrap();
        OrderItem {
            product_id: ProductId::new(),
            sku: Sku::parse(sku).unwrap(),
            name: Name::parse("Thing").unwrap(),
            category: Category::parse("things").unwrap(),
            supplier_id: None,
            quantity: Quantity::new(quantity).unwrap(),
            unit_price: price,
            line_total: price.times(quantity as u32).unwrap(),
        }
    }

    fn row(sku: &str, on_hand: i32, reserved: i32) -> StockRow {
        StockRow {
            sku: sku.into(),
            product_id: Uuid::now_v7(),
            on_hand,
            reserved,
            version: 0,
        }
    }

    #[test]
    fn demand_is_summed_per_sku_in_byte_order() {
        let demand = demand_of(&[item("b", 1), item("a", 2), item("B", 3)]);
        let skus: Vec<_> = demand.iter().map(|d| d.sku.as_str()).collect();
        assert_eq!(skus, ["B", "a", "b"]);
        let demand = demand_of(&[item("x", 1), item("x", 4)]);
        assert_eq!(
            demand,
            [Demand {
                sku: "x".into(),
                units: 5
            }]
        );
    }

    #[test]
    fn every_short_line_is_named_and_missing_rows_have_nothing() {
        let items = [item("a", 2), item("b", 5), item("c", 1)];
        let rows = [row("a", 10, 0), row("b", 6, 2)];
        let short = shortfalls(&items, &rows);
        assert_eq!(short.len(), 2);
        assert_eq!((short[0].requested, short[0].available), (5, 4));
        assert_eq!((short[1].requested, short[1].available), (1, 0));
        assert_eq!(short[1].product_id, items[2].product_id);
    }

    #[test]
    fn enough_stock_is_not_short() {
        assert!(shortfalls(&[item("a", 3)], &[row("a", 5, 2)]).is_empty());
    }

    #[test]
    fn stock_moves_follow_the_state_machine() {
        assert_eq!(StockMove::of(Pending, Confirmed), Some(StockMove::Sell));
        assert_eq!(StockMove::of(Pending, Cancelled), Some(StockMove::Release));
        assert_eq!(StockMove::of(Pending, Failed), Some(StockMove::Release));
        assert_eq!(
            StockMove::of(Confirmed, Cancelled),
            Some(StockMove::Restock)
        );
        assert_eq!(StockMove::of(Confirmed, Shipped), None);
        assert_eq!(StockMove::of(Shipped, Delivered), None);
    }

    #[test]
    fn columns_are_qualified() {
        assert_eq!(qualified("a, b,c", "i"), "i.a, i.b, i.c");
    }
}
