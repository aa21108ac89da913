//! The inventory port: creating, setting, reading and removing stock records.

use super::support::{available, new_order, product, unique_sku};
use emporium_domain::model::Units;
use emporium_domain::ports::Stores;
use emporium_domain::Error;

pub async fn inventory_create_set_and_remove(stores: &Stores) {
    let p = product("Cable", "electronics", "3.00");
    let inv = &stores.inventory;
    let level = inv
        .create_stock(&p.sku, p.id, Units::new(7).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (level.on_hand, level.reserved, level.available()),
        (7, 0, 7)
    );
    let dup = inv.create_stock(&p.sku, p.id, Units::new(1).unwrap()).await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "got {dup:?}");
    assert_eq!(
        available(stores, &p).await,
        7,
        "a refused create changes nothing"
    );

    // Reserve 2, then set available to 10: on hand becomes 12, reservation untouched.
    stores
        .orders
        .create_pending(&new_order("c1", &[(&p, 2)]))
        .await
        .unwrap();
    let set = inv
        .set_available(&p.sku, Units::new(10).unwrap())
        .await
        .unwrap();
    assert_eq!((set.on_hand, set.reserved, set.available()), (12, 2, 10));
    let missing = unique_sku("NONE");
    assert!(matches!(
        inv.set_available(&missing, Units::new(1).unwrap()).await,
        Err(Error::NotFound(_))
    ));
    let many = inv
        .stock_many(&[p.sku.clone(), missing.clone()])
        .await
        .unwrap();
    assert_eq!(many.len(), 1);
    assert_eq!(many[0].product_id, p.id);
    assert!(inv.remove_stock(&p.sku).await.unwrap().is_some());
    assert!(inv.remove_stock(&p.sku).await.unwrap().is_none());
    assert!(inv.stock(&p.sku).await.unwrap().is_none());
}
