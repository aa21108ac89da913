//! The order queue (ADR 0016): placements taken while the ledger was unreachable, claimed
//! oldest first, and placed by the order service's worker through the normal saga.

use super::support::{level, order_request, stocked};
use emporium_domain::model::{
    now, NewOrder, Order, OrderId, OrderStatus, PaymentStatus, QueueState, QueuedOrder,
};
use emporium_domain::ports::Stores;
use emporium_domain::service::OrderService;
use std::time::Duration;

/// A queued entry for `request`, priced against the catalog, received at `received_at`.
async fn entry(
    stores: &Stores,
    request: emporium_domain::model::OrderRequest,
    received_at: emporium_domain::model::Timestamp,
) -> QueuedOrder {
    let ids: Vec<_> = request.lines.iter().map(|(id, _)| *id).collect();
    let products = stores.catalog.get_many(&ids).await.expect("products");
    let mut new = NewOrder::price(OrderId::new(), &request, &products).expect("priced");
    new.created_at = received_at;
    QueuedOrder::new(request, Order::queued(&new))
}

pub async fn order_queue_claims_oldest_first_and_settles(stores: &Stores) {
    let p = stocked(stores, "Queue probe", "5.00", 10).await;
    let queue = stores.order_queue.as_ref();
    let t0 = now() - chrono::Duration::seconds(30);
    let entries = [
        entry(
            stores,
            order_request(&[(&p, 1)], "tok_visa"),
            t0 + chrono::Duration::seconds(2),
        )
        .await,
        entry(stores, order_request(&[(&p, 2)], "tok_visa"), t0).await,
        entry(
            stores,
            order_request(&[(&p, 3)], "tok_visa"),
            t0 + chrono::Duration::seconds(1),
        )
        .await,
    ];
    for e in &entries {
        queue.enqueue(e).await.expect("enqueue");
    }
    // Enqueueing again keeps the entry as it was.
    let mut again = entries[0].clone();
    again.failure_reason = Some("not kept".into());
    queue.enqueue(&again).await.expect("enqueue again");
    let stored = queue.get(entries[0].id).await.expect("get").expect("kept");
    assert_eq!(stored, entries[0]);
    assert_eq!(stored.view().status, OrderStatus::Queued);
    assert_eq!(queue.waiting().await.expect("waiting"), 3);
    assert_eq!(queue.get(OrderId::new()).await.expect("get"), None);

    let lease = Duration::from_secs(60);
    let first = queue.claim_next(lease).await.expect("claim").expect("one");
    assert_eq!(first.id, entries[1].id, "the oldest first");
    assert_eq!(first.state, QueueState::Placing);
    assert!(first.claimed_at.is_some());
    let second = queue.claim_next(lease).await.expect("claim").expect("one");
    assert_eq!(second.id, entries[2].id, "a fresh claim is not taken over");
    queue.release(second.id).await.expect("release");
    let again = queue.claim_next(lease).await.expect("claim").expect("one");
    assert_eq!(again.id, entries[2].id, "a released entry keeps its place");
    let third = queue.claim_next(lease).await.expect("claim").expect("one");
    assert_eq!(third.id, entries[0].id);
    assert_eq!(queue.claim_next(lease).await.expect("claim"), None);
    // A worker that died: its claim is taken over once older than the lease.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = queue
        .claim_next(Duration::from_millis(1))
        .await
        .expect("claim")
        .expect("taken over");
    assert_eq!(taken.id, entries[1].id);

    queue
        .settle(entries[1].id, QueueState::Placed, None)
        .await
        .expect("settle");
    queue
        .settle(
            entries[2].id,
            QueueState::Failed,
            Some("insufficient stock"),
        )
        .await
        .expect("settle");
    let failed = queue.get(entries[2].id).await.expect("get").expect("there");
    assert_eq!(failed.state, QueueState::Failed);
    assert_eq!(failed.view().status, OrderStatus::Failed);
    assert_eq!(
        failed.view().failure_reason.as_deref(),
        Some("insufficient stock")
    );
    assert_eq!(queue.waiting().await.expect("waiting"), 1);
    assert!(queue
        .settle(OrderId::new(), QueueState::Placed, None)
        .await
        .is_err());
}

/// The worker places queued orders in arrival order at the price they were taken at:
/// one that still fits is confirmed, one that no longer fits and one whose card is
/// declined end `failed` with their reasons, recorded in the ledger, and the stock moves
/// by exactly what was sold.
pub async fn queued_orders_are_placed_in_arrival_order(stores: &Stores) {
    let p = stocked(stores, "Queue lamp", "12.50", 3).await;
    let t0 = now() - chrono::Duration::seconds(10);
    let fits = entry(stores, order_request(&[(&p, 2)], "tok_visa"), t0).await;
    let short = entry(
        stores,
        order_request(&[(&p, 2)], "tok_visa"),
        t0 + chrono::Duration::seconds(1),
    )
    .await;
    let declined = entry(
        stores,
        order_request(&[(&p, 1)], "tok_chargeDeclined"),
        t0 + chrono::Duration::seconds(2),
    )
    .await;
    let last = entry(
        stores,
        order_request(&[(&p, 1)], "tok_visa"),
        t0 + chrono::Duration::seconds(3),
    )
    .await;
    for e in [&last, &declined, &short, &fits] {
        stores.order_queue.enqueue(e).await.expect("enqueue");
    }
    let service = OrderService::new(stores.clone());
    assert_eq!(service.drain_queue().await.expect("drain"), 4);
    assert_eq!(service.drain_queue().await.expect("drain"), 0);

    let order = |id| {
        let stores = stores.clone();
        async move {
            stores
                .orders
                .get(id)
                .await
                .expect("get")
                .expect("in the ledger")
        }
    };
    let placed = order(fits.id).await;
    assert_eq!(placed.status, OrderStatus::Confirmed);
    assert_eq!(placed.total.to_string(), "25.00");
    let refused = order(short.id).await;
    assert_eq!(refused.status, OrderStatus::Failed);
    let reason = refused.failure_reason.clone().expect("a reason");
    assert!(reason.starts_with("insufficient stock"), "{reason}");
    assert_eq!(refused.items.len(), 1, "the failed order keeps its lines");
    let card = order(declined.id).await;
    assert_eq!(card.status, OrderStatus::Failed);
    assert_eq!(
        card.payment.expect("payment").status,
        PaymentStatus::Declined
    );
    let reason = card.failure_reason.expect("a reason");
    assert!(reason.starts_with("payment declined"), "{reason}");
    assert_eq!(order(last.id).await.status, OrderStatus::Confirmed);
    assert_eq!(level(stores, &p).await, (0, 0), "3 units sold, none held");

    for (e, state) in [
        (&fits, QueueState::Placed),
        (&short, QueueState::Failed),
        (&declined, QueueState::Failed),
        (&last, QueueState::Placed),
    ] {
        let kept = stores
            .order_queue
            .get(e.id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(kept.state, state);
    }
    // The service reads the order from the ledger once it is there.
    let read = service.get(short.id).await.expect("get");
    assert_eq!(read.status, OrderStatus::Failed);
    assert!(read.failure_reason.is_some());
    // Recording the failure again changes nothing.
    let again = stores
        .orders
        .record_failed(
            &NewOrder {
                id: short.id,
                customer_id: refused.customer_id.clone(),
                customer_name: None,
                items: refused.items.clone(),
                total: refused.total,
                created_at: refused.created_at,
            },
            "another reason",
        )
        .await
        .expect("record again");
    assert_eq!(again.failure_reason, refused.failure_reason);
    assert_eq!(level(stores, &p).await, (0, 0));
}

/// A queued order not yet placed reads as `queued` through the service (the ledger does
/// not hold it), and cannot be cancelled before it is placed.
pub async fn a_queued_order_reads_as_queued_until_placed(stores: &Stores) {
    let p = stocked(stores, "Queue kettle", "30.00", 2).await;
    let waiting = entry(stores, order_request(&[(&p, 1)], "tok_visa"), now()).await;
    stores.order_queue.enqueue(&waiting).await.expect("enqueue");
    let service = OrderService::new(stores.clone());
    let read = service.get(waiting.id).await.expect("get");
    assert_eq!(read.status, OrderStatus::Queued);
    assert_eq!(read.total.to_string(), "30.00");
    assert!(matches!(
        service.cancel(waiting.id).await,
        Err(emporium_domain::Error::Conflict(_))
    ));
    assert_eq!(
        level(stores, &p).await,
        (2, 0),
        "a queued order holds no stock"
    );
    service.drain_queue().await.expect("drain");
    assert_eq!(
        service.get(waiting.id).await.expect("get").status,
        OrderStatus::Confirmed
    );
    assert_eq!(level(stores, &p).await, (1, 0));
}
