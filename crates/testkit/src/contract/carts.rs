//! Carts (ADR 0019): compare-and-set writes, expiry that hides a cart before any purge,
//! a purge that removes only expired carts, and a checkout that places one order however
//! many times it runs at once.

use super::support::{available, stocked};
use emporium_domain::model::{now, Cart, CustomerId, OrderQuery};
use emporium_domain::ports::Stores;
use emporium_domain::service::CartService;
use emporium_domain::Error;
use std::time::Duration;

pub async fn carts_write_with_compare_and_set_and_expire(stores: &Stores) {
    let carts = stores.carts.as_ref();
    let customer = CustomerId::parse("cust-carts").unwrap();
    let cart = Cart::new(customer.clone(), chrono::Duration::hours(1));
    carts.insert(&cart).await.expect("insert");
    assert!(matches!(carts.insert(&cart).await, Err(Error::Conflict(_))));
    assert_eq!(carts.get(cart.id, now()).await.unwrap(), Some(cart.clone()));
    // Of eight writers from one version, exactly one lands.
    let writers = (0..8).map(|i| {
        let mut next = cart.clone();
        next.version += 1;
        next.customer_id = CustomerId::parse(format!("writer-{i}")).unwrap();
        async move { carts.replace(&next, now()).await.expect("replace") }
    });
    let landed = futures::future::join_all(writers).await;
    assert_eq!(landed.iter().filter(|l| **l).count(), 1, "{landed:?}");
    let stored = carts.get(cart.id, now()).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    // Past its expiry a cart is gone to reads and writes, before any purge.
    let later = cart.expires_at + chrono::Duration::seconds(1);
    assert_eq!(carts.get(cart.id, later).await.unwrap(), None);
    let mut next = stored.clone();
    next.version += 1;
    assert!(!carts.replace(&next, later).await.unwrap());
    // The purge removes expired carts only.
    let fresh = Cart::new(customer.clone(), chrono::Duration::hours(3));
    carts.insert(&fresh).await.unwrap();
    assert_eq!(carts.purge_expired(later, 100).await.unwrap(), 1);
    assert_eq!(carts.get(cart.id, now()).await.unwrap(), None);
    assert!(carts.get(fresh.id, later).await.unwrap().is_some());
    assert!(carts.delete(fresh.id).await.unwrap());
    assert!(!carts.delete(fresh.id).await.unwrap());
}

pub async fn concurrent_checkouts_of_one_cart_place_one_order(stores: &Stores) {
    let service = CartService::new(stores.clone(), Duration::from_secs(3600));
    let lamp = stocked(stores, "Lamp", "19.99", 10).await;
    let cart = service
        .create(Some("cust-checkout".into()))
        .await
        .expect("cart");
    service.put_item(cart.id, lamp.id, 3).await.expect("put");
    let checkouts = (0..8).map(|_| {
        let service = service.clone();
        async move {
            service
                .checkout(
                    cart.id,
                    Some("card".into()),
                    Some("tok_visa".into()),
                    true,
                    None,
                )
                .await
        }
    });
    let results = futures::future::join_all(checkouts).await;
    let mut placed = Vec::new();
    for r in &results {
        match r {
            Ok(c) => placed.push(c.outcome.as_ref().expect("an order").id),
            // A checkout that met another still running is told to retry.
            Err(Error::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(!placed.is_empty());
    placed.dedup();
    assert_eq!(placed.len(), 1, "one order: {placed:?}");
    // Stock moved once; the cart answers with that order from now on.
    assert_eq!(available(stores, &lamp).await, 7);
    let again = service
        .checkout(
            cart.id,
            Some("card".into()),
            Some("tok_visa".into()),
            true,
            None,
        )
        .await
        .expect("again");
    assert!(!again.placed_now);
    assert_eq!(again.outcome.unwrap().id, placed[0]);
    let orders = stores
        .orders
        .list(&OrderQuery {
            customer_id: Some("cust-checkout".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(orders.total, 1);
}
