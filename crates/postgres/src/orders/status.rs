//! Order status changes: confirm, fail, cancel, advance.
//!
//! Each runs the same transaction: lock the order row, let a *decision* function (below)
//! say whether and where the order moves — the moves themselves are checked by
//! [`OrderStatus::transition`], so the state machine lives in the domain only — then make
//! the stock move that goes with it, store the status and write the outbox rows.
//!
//! A decision answers `Ok(None)` for the idempotent repeats the ports allow (confirming a
//! confirmed order, ...); the order is then returned unchanged and nothing is written.

use super::read::{load, whole};
use crate::error::{corrupt, PgResult};
use crate::payments;
use crate::rows::{OrderRow, ORDER_COLUMNS};
use crate::saga_log;
use crate::stock::{self, StockMove};
use crate::PgLedger;
use chrono::{DateTime, Utc};
use emporium_domain::model::{now, Order, OrderId, OrderStatus, SagaRecord};
use emporium_domain::ports::Settlement;
use emporium_domain::{Error, Result};
use sqlx::PgConnection;
use uuid::Uuid;

/// `confirm`: from `pending`; a sale (`confirmed`, `shipped`, `delivered`) is already done.
pub(super) fn confirming(from: OrderStatus) -> Result<Option<OrderStatus>> {
    if from.is_sale() {
        return Ok(None);
    }
    from.transition(OrderStatus::Confirmed).map(Some)
}

/// `fail`: from `pending`; idempotent on `failed`.
pub(super) fn failing(from: OrderStatus) -> Result<Option<OrderStatus>> {
    if from == OrderStatus::Failed {
        return Ok(None);
    }
    from.transition(OrderStatus::Failed).map(Some)
}

/// `cancel`: from `pending` or `confirmed`; idempotent on `cancelled`.
pub(super) fn cancelling(from: OrderStatus) -> Result<Option<OrderStatus>> {
    if from == OrderStatus::Cancelled {
        return Ok(None);
    }
    from.transition(OrderStatus::Cancelled).map(Some)
}

/// `advance`: only the moves that touch no stock (`confirmed → shipped`,
/// `shipped → delivered`). A move the state machine allows but that needs a stock move
/// (`pending → confirmed`, `... → cancelled`) belongs to its own method and is refused
/// here, so stock can never be skipped.
pub(super) fn advancing(from: OrderStatus, to: OrderStatus) -> Result<Option<OrderStatus>> {
    let to = from.transition(to)?;
    match StockMove::of(from, to) {
        None => Ok(Some(to)),
        Some(_) => Err(Error::InvalidTransition { from, to }),
    }
}

impl PgLedger {
    /// Runs one status change as one transaction; returns the order as it now is and the
    /// status it had before. `NotFound` when there is no such order.
    pub(super) async fn change_status(
        &self,
        id: OrderId,
        decide: impl FnOnce(OrderStatus) -> Result<Option<OrderStatus>>,
    ) -> PgResult<(Order, OrderStatus)> {
        let id = id.as_uuid();
        let mut tx = self.pool.begin().await?;
        let from = lock_status(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        let order = match decide(from)? {
            Some(to) => move_order(&mut tx, id, from, to, now()).await?,
            None => load(&mut tx, id).await?.ok_or(Error::NotFound("order"))?,
        };
        tx.commit().await?;
        Ok((order, from))
    }
}

impl PgLedger {
    /// Settles a pending order, records its payment and stores the saga record, in one
    /// transaction committed without waiting for the WAL flush (`synchronous_commit =
    /// off`): a server crash may lose the last few hundred milliseconds of settlements,
    /// and recovery derives each again from the gateway, by the order id, from the saga
    /// record that the reservation committed durably. See ADR 0002.
    pub(super) async fn settle_order(
        &self,
        id: OrderId,
        settlement: &Settlement,
        saga: &SagaRecord,
    ) -> PgResult<Order> {
        let id = id.as_uuid();
        let mut tx = self.pool.begin().await?;
        let from = lock_status_committing_async(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        let (decision, payment) = match settlement {
            Settlement::Confirm(payment) => (confirming(from)?, Some(payment)),
            Settlement::Fail(payment) => (failing(from)?, payment.as_ref()),
        };
        if let Some(payment) = payment {
            payments::upsert(&mut tx, payment).await?;
        }
        saga_log::save(&mut tx, saga).await?;
        let order = match decision {
            Some(to) => move_order(&mut tx, id, from, to, now()).await?,
            None => load(&mut tx, id).await?.ok_or(Error::NotFound("order"))?,
        };
        tx.commit().await?;
        Ok(order)
    }
}

/// [`lock_status`], and this transaction's commit will not wait for the WAL flush
/// (`SET LOCAL synchronous_commit = off`, in the same round trip).
async fn lock_status_committing_async(
    conn: &mut PgConnection,
    id: Uuid,
) -> PgResult<Option<OrderStatus>> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM orders \
          WHERE id = $1 AND set_config('synchronous_commit', 'off', true) IS NOT NULL \
          FOR NO KEY UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    status
        .map(|s| s.parse().map_err(|e: String| corrupt("orders", e)))
        .transpose()
}

/// The order's status, its row locked until the transaction ends.
///
/// `FOR NO KEY UPDATE` rather than `FOR UPDATE`: the id never changes, and the weaker lock
/// does not block the key-share locks that foreign keys take, so recording the order's
/// payment is not held up by a status change.
async fn lock_status(conn: &mut PgConnection, id: Uuid) -> PgResult<Option<OrderStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    status
        .map(|s| s.parse().map_err(|e: String| corrupt("orders", e)))
        .transpose()
}

/// `from → to` on the locked order: the new status, the stock move, the outbox rows.
///
/// The stock rows are locked last (after the order row, as everywhere): a hot SKU's row
/// is what concurrent orders queue on, so it is held only for the stock update, the outbox
/// rows and the commit.
async fn move_order(
    conn: &mut PgConnection,
    id: Uuid,
    from: OrderStatus,
    to: OrderStatus,
    at: DateTime<Utc>,
) -> PgResult<Order> {
    let sql = format!(
        "UPDATE orders o SET status = $2, updated_at = $3, \
                confirmed_at = CASE WHEN $2 = 'confirmed' THEN $3 ELSE o.confirmed_at END, \
                delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE o.delivered_at END \
          WHERE o.id = $1 RETURNING {ORDER_COLUMNS}"
    );
    let header: OrderRow = sqlx::query_as(&sql)
        .bind(id)
        .bind(to.as_str())
        .bind(at)
        .fetch_one(&mut *conn)
        .await?;
    let order = whole(conn, header).await?;
    if let Some(mv) = StockMove::of(from, to) {
        // The lines just read say what to move: no second read of them.
        let demand = stock::demand_of(&order.items);
        if stock::apply_order_move(conn, id, mv, &demand, at).await? == 0 {
            crate::warehouses::absorb_unsplit(conn, &demand).await?;
        }
    }
    // The outbox rows (`order.updated`, `stock.changed`) are written by triggers.
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn confirm_is_idempotent_on_sales_and_refused_after_an_end() {
        assert_eq!(confirming(Pending).unwrap(), Some(Confirmed));
        for done in [Confirmed, Shipped, Delivered] {
            assert_eq!(confirming(done).unwrap(), None);
        }
        for end in [Cancelled, Failed] {
            assert!(matches!(
                confirming(end),
                Err(Error::InvalidTransition { from, to: Confirmed }) if from == end
            ));
        }
    }

    #[test]
    fn fail_and_cancel_are_idempotent_on_themselves_only() {
        assert_eq!(failing(Pending).unwrap(), Some(Failed));
        assert_eq!(failing(Failed).unwrap(), None);
        assert!(failing(Confirmed).is_err());
        assert_eq!(cancelling(Pending).unwrap(), Some(Cancelled));
        assert_eq!(cancelling(Confirmed).unwrap(), Some(Cancelled));
        assert_eq!(cancelling(Cancelled).unwrap(), None);
        for other in [Shipped, Delivered, Failed] {
            assert!(cancelling(other).is_err());
        }
    }

    #[test]
    fn advance_makes_only_stockless_moves() {
        assert_eq!(advancing(Confirmed, Shipped).unwrap(), Some(Shipped));
        assert_eq!(advancing(Shipped, Delivered).unwrap(), Some(Delivered));
        assert!(advancing(Pending, Confirmed).is_err());
        assert!(advancing(Pending, Cancelled).is_err());
        assert!(advancing(Confirmed, Cancelled).is_err());
        assert!(advancing(Pending, Shipped).is_err());
        assert!(advancing(Shipped, Shipped).is_err());
    }
}
