//! The orders port: reservations, confirmations, failures and cancellations move stock
//! exactly once, listing filters, and concurrent orders neither oversell nor deadlock.

use super::support::{available, level, new_order, page, product, stocked};
use chrono::Duration;
use emporium_domain::model::{now, OrderId, OrderQuery, OrderStatus};
use emporium_domain::ports::Stores;
use emporium_domain::Error;

pub async fn orders_reserve_then_confirm_moves_stock(stores: &Stores) {
    let a = stocked(stores, "Keyboard", "49.99", 10).await;
    let b = stocked(stores, "Monitor", "199.00", 5).await;
    let new = new_order("cust-1", &[(&a, 3), (&b, 1)]);
    let pending = stores.orders.create_pending(&new).await.unwrap();
    assert_eq!(pending.status, OrderStatus::Pending);
    assert_eq!(pending.total.to_string(), "348.97");
    assert_eq!(level(stores, &a).await, (10, 3));
    assert_eq!(level(stores, &b).await, (5, 1));

    let confirmed = stores.orders.confirm(new.id).await.unwrap();
    assert_eq!(confirmed.status, OrderStatus::Confirmed);
    assert_eq!(level(stores, &a).await, (7, 0), "reservation became a sale");
    assert_eq!(level(stores, &b).await, (4, 0));
    let again = stores.orders.confirm(new.id).await.unwrap();
    assert_eq!(again.status, OrderStatus::Confirmed);
    assert_eq!(
        level(stores, &a).await,
        (7, 0),
        "confirming twice moves nothing"
    );

    let stored = stores.orders.get(new.id).await.unwrap().unwrap();
    assert_eq!(
        stored.items, new.items,
        "lines keep their snapshot, in order"
    );
    assert_eq!(stored.total, new.total);
    assert_eq!(stored.customer_id, new.customer_id);
    assert!(stores.orders.get(OrderId::new()).await.unwrap().is_none());
    assert!(matches!(
        stores.orders.confirm(OrderId::new()).await,
        Err(Error::NotFound(_))
    ));
}

pub async fn orders_short_line_changes_nothing(stores: &Stores) {
    let a = stocked(stores, "Plenty", "1.00", 10).await;
    let b = stocked(stores, "Scarce", "1.00", 1).await;
    let ghost = product("Unstocked", "electronics", "1.00");
    let new = new_order("cust-2", &[(&a, 2), (&b, 2), (&ghost, 1)]);
    let err = stores.orders.create_pending(&new).await.unwrap_err();
    let Error::InsufficientStock(mut short) = err else {
        panic!("expected InsufficientStock, got {err:?}")
    };
    short.sort_by_key(|s| s.product_id);
    let mut expected = vec![
        emporium_domain::Shortfall {
            product_id: b.id,
            requested: 2,
            available: 1,
        },
        emporium_domain::Shortfall {
            product_id: ghost.id,
            requested: 1,
            available: 0,
        },
    ];
    expected.sort_by_key(|s| s.product_id);
    assert_eq!(short, expected, "every short line is named");
    assert_eq!(level(stores, &a).await, (10, 0), "no line was reserved");
    assert_eq!(level(stores, &b).await, (1, 0));
    assert!(
        stores.orders.get(new.id).await.unwrap().is_none(),
        "no order"
    );
}

pub async fn orders_fail_releases_reservation_once(stores: &Stores) {
    let a = stocked(stores, "Lamp", "15.00", 4).await;
    let new = new_order("cust-3", &[(&a, 3)]);
    stores.orders.create_pending(&new).await.unwrap();
    assert_eq!(available(stores, &a).await, 1);
    let failed = stores.orders.fail(new.id).await.unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(level(stores, &a).await, (4, 0));
    stores.orders.fail(new.id).await.unwrap();
    assert_eq!(
        level(stores, &a).await,
        (4, 0),
        "failing twice releases once"
    );
}

pub async fn orders_cancel_pending_and_confirmed(stores: &Stores) {
    let a = stocked(stores, "Chair", "80.00", 6).await;
    let pending = new_order("cust-4", &[(&a, 2)]);
    stores.orders.create_pending(&pending).await.unwrap();
    let c = stores.orders.cancel(pending.id).await.unwrap();
    assert_eq!(c.previous, OrderStatus::Pending);
    assert_eq!(c.order.status, OrderStatus::Cancelled);
    assert_eq!(level(stores, &a).await, (6, 0), "reservation released");

    let confirmed = new_order("cust-4", &[(&a, 5)]);
    stores.orders.create_pending(&confirmed).await.unwrap();
    stores.orders.confirm(confirmed.id).await.unwrap();
    assert_eq!(level(stores, &a).await, (1, 0));
    let c = stores.orders.cancel(confirmed.id).await.unwrap();
    assert_eq!(c.previous, OrderStatus::Confirmed);
    assert_eq!(level(stores, &a).await, (6, 0), "sold units returned");
    let again = stores.orders.cancel(confirmed.id).await.unwrap();
    assert_eq!(again.previous, OrderStatus::Cancelled);
    assert_eq!(
        level(stores, &a).await,
        (6, 0),
        "cancelling twice returns once"
    );
}

pub async fn orders_refuse_invalid_transitions(stores: &Stores) {
    let a = stocked(stores, "Desk", "300.00", 3).await;
    let o = new_order("cust-5", &[(&a, 1)]);
    stores.orders.create_pending(&o).await.unwrap();
    let err = stores
        .orders
        .advance(o.id, OrderStatus::Shipped)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: OrderStatus::Pending,
                to: OrderStatus::Shipped
            }
        ),
        "got {err:?}"
    );
    stores.orders.confirm(o.id).await.unwrap();
    let shipped = stores
        .orders
        .advance(o.id, OrderStatus::Shipped)
        .await
        .unwrap();
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert!(matches!(
        stores.orders.cancel(o.id).await,
        Err(Error::InvalidTransition { .. })
    ));
    let delivered = stores
        .orders
        .advance(o.id, OrderStatus::Delivered)
        .await
        .unwrap();
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(level(stores, &a).await, (2, 0), "shipping moves no stock");

    let f = new_order("cust-5", &[(&a, 1)]);
    stores.orders.create_pending(&f).await.unwrap();
    stores.orders.fail(f.id).await.unwrap();
    assert!(matches!(
        stores.orders.confirm(f.id).await,
        Err(Error::InvalidTransition { .. })
    ));
    assert_eq!(level(stores, &a).await, (2, 0));
}

pub async fn orders_create_pending_is_idempotent(stores: &Stores) {
    let a = stocked(stores, "Pen", "2.00", 5).await;
    let o = new_order("cust-6", &[(&a, 2)]);
    let first = stores.orders.create_pending(&o).await.unwrap();
    let second = stores.orders.create_pending(&o).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(level(stores, &a).await, (5, 2), "reserved once");
}

pub async fn orders_list_filters(stores: &Stores) {
    let a = stocked(stores, "Ink", "4.00", 100).await;
    let b = stocked(stores, "Paper", "6.00", 100).await;
    let customer = format!("list-{}", uuid::Uuid::new_v4().simple());
    let o1 = new_order(&customer, &[(&a, 1)]);
    let o2 = new_order(&customer, &[(&b, 1)]);
    let o3 = new_order(&customer, &[(&a, 1), (&b, 1)]);
    for o in [&o1, &o2, &o3] {
        stores.orders.create_pending(o).await.unwrap();
    }
    stores.orders.confirm(o2.id).await.unwrap();
    let ids = |q: OrderQuery| async move {
        let page = stores.orders.list(&q).await.unwrap();
        (
            page.total,
            page.items.into_iter().map(|o| o.id).collect::<Vec<_>>(),
        )
    };
    let mine = OrderQuery {
        customer_id: Some(customer.clone()),
        ..Default::default()
    };
    assert_eq!(ids(mine.clone()).await, (3, vec![o1.id, o2.id, o3.id]));
    let confirmed = OrderQuery {
        status: Some(OrderStatus::Confirmed),
        ..mine.clone()
    };
    assert_eq!(ids(confirmed).await, (1, vec![o2.id]));
    let with_a = OrderQuery {
        product_id: Some(a.id),
        ..mine.clone()
    };
    assert_eq!(ids(with_a).await, (2, vec![o1.id, o3.id]));
    let paged = OrderQuery {
        page: page(1, 1),
        ..mine.clone()
    };
    assert_eq!(ids(paged).await, (3, vec![o2.id]));
    let future = OrderQuery {
        from: Some(now() + Duration::hours(1)),
        ..mine.clone()
    };
    assert_eq!(ids(future).await, (0, vec![]));
    let past = OrderQuery {
        to: Some(now() - Duration::hours(1)),
        ..mine.clone()
    };
    assert_eq!(ids(past).await, (0, vec![]));
    let window = OrderQuery {
        from: Some(o1.created_at),
        to: Some(now() + Duration::seconds(5)),
        ..mine
    };
    assert_eq!(ids(window).await.0, 3);
    let listed = stores
        .orders
        .list(&OrderQuery {
            customer_id: Some(customer),
            status: Some(OrderStatus::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    let o3_listed = listed.items.iter().find(|o| o.id == o3.id).unwrap();
    assert_eq!(o3_listed.items.len(), 2, "listed orders carry their lines");
}

pub async fn orders_never_oversell_under_concurrency(stores: &Stores) {
    let p = stocked(stores, "Hot Item", "9.99", 10).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let orders = stores.orders.clone();
            let o = new_order(&format!("racer-{i}"), &[(&p, 1)]);
            tokio::spawn(async move {
                match orders.create_pending(&o).await {
                    Ok(_) => orders.confirm(o.id).await.map(|_| true),
                    Err(Error::InsufficientStock(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            })
        })
        .collect();
    let mut sold = 0;
    for t in tasks {
        if t.await.expect("task").expect("no store error") {
            sold += 1;
        }
    }
    assert_eq!(sold, 10, "exactly the stock is sold");
    assert_eq!(level(stores, &p).await, (0, 0));
}

pub async fn orders_crossed_baskets_do_not_deadlock(stores: &Stores) {
    let a = stocked(stores, "Left", "1.00", 1000).await;
    let b = stocked(stores, "Right", "1.00", 1000).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let orders = stores.orders.clone();
            let o = if i % 2 == 0 {
                new_order("crossed", &[(&a, 1), (&b, 1)])
            } else {
                new_order("crossed", &[(&b, 1), (&a, 1)])
            };
            tokio::spawn(async move {
                orders.create_pending(&o).await?;
                orders.confirm(o.id).await
            })
        })
        .collect();
    let all = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        for t in tasks {
            t.await.expect("task").expect("crossed basket placed");
        }
    })
    .await;
    assert!(all.is_ok(), "crossed baskets must not deadlock");
    assert_eq!(level(stores, &a).await, (950, 0));
    assert_eq!(level(stores, &b).await, (950, 0));
}
