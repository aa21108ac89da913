//! Status changes.

use super::*;

#[tokio::test]
async fn confirm_sells_once_and_advance_follows_the_state_machine() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 3)]);
    ledger.create_pending(&new).await?;

    let confirmed = ledger.confirm(new.id).await?;
    assert_eq!(confirmed.status, OrderStatus::Confirmed);
    assert!(confirmed.updated_at >= confirmed.created_at);
    assert_eq!(levels(&ledger, &a).await?, (7, 0));
    assert_eq!(ledger.confirm(new.id).await?, confirmed, "idempotent");
    assert_eq!(levels(&ledger, &a).await?, (7, 0));

    assert!(matches!(
        ledger.advance(new.id, OrderStatus::Delivered).await,
        Err(Error::InvalidTransition {
            from: OrderStatus::Confirmed,
            to: OrderStatus::Delivered
        })
    ));
    let shipped = ledger.advance(new.id, OrderStatus::Shipped).await?;
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert_eq!(ledger.confirm(new.id).await?.status, OrderStatus::Shipped);
    assert_eq!(
        ledger.advance(new.id, OrderStatus::Delivered).await?.status,
        OrderStatus::Delivered
    );
    assert!(matches!(
        ledger.cancel(new.id).await,
        Err(Error::InvalidTransition {
            from: OrderStatus::Delivered,
            ..
        })
    ));
    assert_eq!(levels(&ledger, &a).await?, (7, 0));

    let unknown = OrderId::new();
    assert!(matches!(
        ledger.confirm(unknown).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        ledger.fail(unknown).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        ledger.cancel(unknown).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        ledger.advance(unknown, OrderStatus::Shipped).await,
        Err(Error::NotFound(_))
    ));
    Ok(())
}

#[tokio::test]
async fn advance_refuses_moves_that_need_stock() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 2)]);
    ledger.create_pending(&new).await?;
    for to in [
        OrderStatus::Confirmed,
        OrderStatus::Cancelled,
        OrderStatus::Shipped,
    ] {
        assert!(
            matches!(
                ledger.advance(new.id, to).await,
                Err(Error::InvalidTransition {
                    from: OrderStatus::Pending,
                    ..
                })
            ),
            "pending -> {to}"
        );
    }
    assert_eq!(levels(&ledger, &a).await?, (10, 2));
    Ok(())
}

#[tokio::test]
async fn fail_releases_the_reservation_once() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 4)]);
    ledger.create_pending(&new).await?;

    let failed = ledger.fail(new.id).await?;
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(levels(&ledger, &a).await?, (10, 0));
    assert_eq!(ledger.fail(new.id).await?, failed, "idempotent");
    assert_eq!(levels(&ledger, &a).await?, (10, 0));
    assert!(matches!(
        ledger.confirm(new.id).await,
        Err(Error::InvalidTransition {
            from: OrderStatus::Failed,
            to: OrderStatus::Confirmed
        })
    ));
    assert!(matches!(
        ledger.cancel(new.id).await,
        Err(Error::InvalidTransition {
            from: OrderStatus::Failed,
            ..
        })
    ));
    Ok(())
}

#[tokio::test]
async fn cancel_releases_pending_and_restocks_confirmed() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let pending = order_of("c1", vec![line(&a, 2)]);
    let confirmed = order_of("c2", vec![line(&a, 3)]);
    ledger.create_pending(&pending).await?;
    ledger.create_pending(&confirmed).await?;
    ledger.confirm(confirmed.id).await?;
    assert_eq!(levels(&ledger, &a).await?, (7, 2));

    let c = ledger.cancel(pending.id).await?;
    assert_eq!(
        (c.previous, c.order.status),
        (OrderStatus::Pending, OrderStatus::Cancelled)
    );
    assert_eq!(levels(&ledger, &a).await?, (7, 0));

    let c = ledger.cancel(confirmed.id).await?;
    assert_eq!(
        (c.previous, c.order.status),
        (OrderStatus::Confirmed, OrderStatus::Cancelled)
    );
    assert_eq!(levels(&ledger, &a).await?, (10, 0));

    let again = ledger.cancel(confirmed.id).await?;
    assert_eq!(again.previous, OrderStatus::Cancelled);
    assert_eq!(again.order, c.order, "unchanged");
    assert_eq!(levels(&ledger, &a).await?, (10, 0));
    Ok(())
}

#[tokio::test]
async fn moves_skip_stock_records_that_were_removed() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let b = stocked(&ledger, "B", 10).await?;
    let new = order_of("c1", vec![line(&a, 1), line(&b, 2)]);
    ledger.create_pending(&new).await?;
    ledger.remove_stock(&a.sku).await?;

    let confirmed = ledger.confirm(new.id).await?;
    assert_eq!(confirmed.items.len(), 2, "lines are kept");
    assert_eq!(levels(&ledger, &b).await?, (8, 0));
    ledger.cancel(new.id).await?;
    assert_eq!(levels(&ledger, &b).await?, (10, 0));
    assert_eq!(ledger.stock(&a.sku).await?, None);
    Ok(())
}

#[tokio::test]
async fn status_changes_write_the_outbox() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 1)]);
    ledger.create_pending(&new).await?;
    ledger.confirm(new.id).await?;
    ledger.confirm(new.id).await?; // idempotent repeat: no new event
    let updated = count(
        &ledger,
        "SELECT count(*) FROM outbox WHERE event_type = 'order.updated'",
    )
    .await?;
    assert_eq!(updated, 1);
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE event_type = 'stock.changed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(ledger.pool())
    .await?;
    assert_eq!(payload, serde_json::json!({"stock": 9, "reserved": 0}));
    Ok(())
}
