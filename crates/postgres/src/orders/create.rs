//! `create_pending`: reserve every line and store the order `pending`, in one transaction.
//!
//! The transaction first *claims* the order id (`INSERT ... ON CONFLICT DO NOTHING`, its
//! lines in the same statement). A repeated call for the same id then waits on the unique
//! index until the first call commits or rolls back, and finds the stored order instead of
//! reserving twice. Only after the claim does it touch stock, so lock order is always:
//! order, then stock rows in SKU order.

use super::read::load;
use crate::error::PgResult;
use crate::ledger::LockingStrategy;
use crate::rows::sql_quantity;
use crate::saga_log;
use crate::stock::{self, Reservation};
use crate::PgLedger;
use emporium_domain::model::{now, NewOrder, Order, OrderStatus, SagaRecord};
use emporium_domain::{Error, Shortfall};
use sqlx::PgConnection;
use std::time::Duration;
use uuid::Uuid;

/// How many optimistic attempts an order gets before it falls back to row locks.
const OPTIMISTIC_ATTEMPTS: u32 = 4;

/// How one attempt went.
enum Placement {
    /// The order is stored, its units reserved.
    Created(Order),
    /// The order already existed; nothing was changed.
    Existing(Order),
    /// Some lines fall short; nothing may be changed.
    Short(Vec<Shortfall>),
    /// (Optimistic) a stock row changed under the attempt; start again.
    Contended,
}

impl PgLedger {
    /// [`Orders::record_failed`](emporium_domain::ports::Orders::record_failed): the order
    /// row as `failed` with its reason and its lines, no stock touched; an existing order
    /// keeps its status, and a failed one without a reason gets this one.
    pub(super) async fn record_failed_order(
        &self,
        new: &NewOrder,
        reason: &str,
    ) -> PgResult<Order> {
        let mut tx = self.pool.begin().await?;
        if !insert(&mut tx, new, OrderStatus::Failed, Some(reason)).await? {
            sqlx::query(
                "UPDATE orders SET failure_reason = $2, updated_at = now() \
                  WHERE id = $1 AND status = 'failed' AND failure_reason IS NULL",
            )
            .bind(new.id.as_uuid())
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        }
        let order = load(&mut tx, new.id.as_uuid()).await?;
        tx.commit().await?;
        order.ok_or_else(|| Error::NotFound("order").into())
    }

    /// Attempts until one is decisive. Only optimistic attempts can be `Contended`, and
    /// [`PgLedger::locking_for`] makes every attempt past the bound pessimistic, so the loop
    /// ends: a hot SKU can delay an order but never starve it.
    ///
    /// With `saga`, the saga record is stored in the same transaction as the order.
    pub(super) async fn place_pending(
        &self,
        new: &NewOrder,
        saga: Option<&SagaRecord>,
    ) -> PgResult<Order> {
        let mut attempt = 1;
        loop {
            let locking = self.locking_for(attempt);
            let mut tx = self.pool.begin().await?;
            match try_place(&mut tx, new, locking, saga).await? {
                Placement::Created(order) | Placement::Existing(order) => {
                    tx.commit().await?;
                    return Ok(order);
                }
                Placement::Short(short) => {
                    tx.rollback().await?;
                    return Err(Error::InsufficientStock(short).into());
                }
                Placement::Contended => {
                    tx.rollback().await?;
                    tracing::debug!(attempt, "stock changed under an optimistic reservation");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The strategy of attempt number `attempt` (from 1).
    fn locking_for(&self, attempt: u32) -> LockingStrategy {
        match self.locking {
            LockingStrategy::Optimistic if attempt <= OPTIMISTIC_ATTEMPTS => {
                LockingStrategy::Optimistic
            }
            _ => LockingStrategy::Pessimistic,
        }
    }
}

/// One attempt on the caller's transaction. The caller commits only `Created` and
/// `Existing`; a `Short` or `Contended` attempt is rolled back, claim included.
///
/// The stock rows are locked last: a hot SKU's row is what concurrent orders queue on, so
/// everything that does not need it (the order, its lines, the saga record) is written
/// before, and the row is held only for the update (and the outbox rows its trigger writes) and the commit.
async fn try_place(
    conn: &mut PgConnection,
    new: &NewOrder,
    locking: LockingStrategy,
    saga: Option<&SagaRecord>,
) -> PgResult<Placement> {
    let claimed = claim(conn, new).await?;
    if let Some(saga) = saga {
        saga_log::save(conn, saga).await?;
    }
    if !claimed {
        let existing = load(conn, new.id.as_uuid()).await?;
        return Ok(Placement::Existing(
            existing.ok_or(Error::NotFound("order"))?,
        ));
    }
    let at = now();
    let reservation = match locking {
        LockingStrategy::Pessimistic => stock::reserve_locked(conn, &new.items, at).await?,
        LockingStrategy::Optimistic => stock::reserve_versioned(conn, &new.items, at).await?,
    };
    // The outbox rows (`order.created`, `stock.changed`) are written by triggers.
    match reservation {
        Reservation::Reserved => {
            let demand = stock::demand_of(&new.items);
            crate::warehouses::allocate(conn, new.id.as_uuid(), &demand).await?;
            Ok(Placement::Created(Order::pending(new)))
        }
        Reservation::Short(short) => Ok(Placement::Short(short)),
        Reservation::Contended => Ok(Placement::Contended),
    }
}

/// Inserts the order row as `pending` and its lines, numbered from 1 in the order given,
/// in one statement; `false`, with nothing written, when an order with this id exists.
async fn claim(conn: &mut PgConnection, new: &NewOrder) -> PgResult<bool> {
    insert(conn, new, OrderStatus::Pending, None).await
}

/// Inserts the order row with `status` (and `failure_reason`) and its lines; `false`,
/// with nothing written, when an order with this id exists.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    new: &NewOrder,
    status: OrderStatus,
    failure_reason: Option<&str>,
) -> PgResult<bool> {
    let items = &new.items;
    let line_no: Vec<i32> = (1..).take(items.len()).collect();
    let product: Vec<Uuid> = items.iter().map(|i| i.product_id.as_uuid()).collect();
    let sku: Vec<&str> = items.iter().map(|i| i.sku.as_str()).collect();
    let name: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let category: Vec<&str> = items.iter().map(|i| i.category.as_str()).collect();
    let supplier: Vec<Option<Uuid>> = items
        .iter()
        .map(|i| i.supplier_id.map(|s| s.as_uuid()))
        .collect();
    let quantity: Vec<i32> = items.iter().map(|i| sql_quantity(i.quantity)).collect();
    let unit_price: Vec<_> = items.iter().map(|i| i.unit_price.amount()).collect();
    let line_total: Vec<_> = items.iter().map(|i| i.line_total.amount()).collect();
    let claimed: i64 = sqlx::query_scalar(
        "WITH claimed AS ( \
             INSERT INTO orders \
                 (id, customer_id, customer_name, status, total, currency, created_at, updated_at, \
                  failure_reason) \
             VALUES ($1, $2, $3, $16, $4, $5, $6, $6, $17) \
             ON CONFLICT (id) DO NOTHING \
             RETURNING id), \
         lines AS ( \
             INSERT INTO order_items (order_id, line_no, product_id, sku, name, category, \
                                      supplier_id, quantity, unit_price, line_total) \
             SELECT c.id, l.* FROM claimed c, \
                    UNNEST($7::int4[], $8::uuid[], $9::text[], $10::text[], $11::text[], \
                           $12::uuid[], $13::int4[], $14::numeric[], $15::numeric[]) AS l) \
         SELECT count(*) FROM claimed",
    )
    .bind(new.id.as_uuid())
    .bind(new.customer_id.as_str())
    .bind(new.customer_name.as_ref().map(|n| n.as_str()))
    .bind(new.total.amount())
    .bind(new.total.currency().as_str())
    .bind(new.created_at)
    .bind(&line_no)
    .bind(&product)
    .bind(&sku)
    .bind(&name)
    .bind(&category)
    .bind(&supplier)
    .bind(&quantity)
    .bind(&unit_price)
    .bind(&line_total)
    .bind(status.as_str())
    .bind(failure_reason)
    .fetch_one(conn)
    .await?;
    Ok(claimed == 1)
}

/// Exponential backoff with jitter (2, 4, 8, ... ms plus up to as much again), so racing
/// transactions spread out instead of colliding again in step.
fn backoff(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(10);
    // The random bits of a v4 UUID are jitter enough; no RNG dependency needed.
    let jitter = (Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn optimistic_attempts_are_bounded_then_pessimistic() {
        // A lazy pool never connects: nothing here touches the database.
        let pool = sqlx::PgPool::connect_lazy("postgres://localhost/unused").expect("valid url");
        let optimistic = PgLedger::from_pool(pool).with_locking(LockingStrategy::Optimistic);
        assert_eq!(optimistic.locking_for(1), LockingStrategy::Optimistic);
        assert_eq!(
            optimistic.locking_for(OPTIMISTIC_ATTEMPTS),
            LockingStrategy::Optimistic
        );
        assert_eq!(
            optimistic.locking_for(OPTIMISTIC_ATTEMPTS + 1),
            LockingStrategy::Pessimistic
        );
        let pessimistic = optimistic.with_locking(LockingStrategy::Pessimistic);
        assert_eq!(pessimistic.locking_for(1), LockingStrategy::Pessimistic);
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) >= Duration::from_millis(2));
        assert!(backoff(1) < Duration::from_millis(4));
        assert!(backoff(50) < Duration::from_millis(2048));
    }
}
