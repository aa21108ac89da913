//! Warehouses (ADR 0022): orders split over warehouses with the most available first,
//! status moves follow the split, transfers are atomic and refuse what `from` lacks, and
//! under concurrent orders no warehouse oversells and the sums equal the totals.

use super::support::{new_order, stocked};
use emporium_domain::model::{
    OrderId, PageRequest, Product, Sku, Transfer, Units, Warehouse, WarehouseId, WarehouseInput,
    WarehouseLevel,
};
use emporium_domain::ports::Stores;
use emporium_domain::Error;
use std::collections::HashMap;

async fn warehouse(stores: &Stores, code: &str) -> Warehouse {
    let w = Warehouse::parse_new(WarehouseInput {
        code: Some(code.into()),
        name: Some(format!("Warehouse {code}")),
        region: Some("EU".into()),
    })
    .unwrap();
    stores
        .warehouses
        .create_warehouse(&w)
        .await
        .expect("create warehouse");
    w
}

async fn by_code(stores: &Stores, sku: &Sku) -> HashMap<String, (u32, u32)> {
    stores
        .warehouses
        .warehouse_levels(sku)
        .await
        .expect("levels")
        .into_iter()
        .map(|l| (l.code.to_string(), (l.on_hand, l.reserved)))
        .collect()
}

/// The sums over warehouses equal the SKU's total, and every warehouse keeps
/// `0 <= reserved <= on_hand`.
async fn sums_hold(stores: &Stores, p: &Product) {
    let total = stores
        .inventory
        .stock(&p.sku)
        .await
        .unwrap()
        .expect("stock record");
    let levels: Vec<WarehouseLevel> = stores.warehouses.warehouse_levels(&p.sku).await.unwrap();
    assert!(levels.iter().all(|l| l.reserved <= l.on_hand), "{levels:?}");
    let on_hand: u32 = levels.iter().map(|l| l.on_hand).sum();
    let reserved: u32 = levels.iter().map(|l| l.reserved).sum();
    assert_eq!(
        (on_hand, reserved),
        (total.on_hand, total.reserved),
        "{levels:?} vs {total:?}"
    );
}

pub async fn orders_draw_from_the_fullest_warehouse_and_split(stores: &Stores) {
    let north = warehouse(
        stores,
        &format!("n{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    )
    .await;
    let south = warehouse(
        stores,
        &format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    )
    .await;
    assert!(matches!(
        stores
            .warehouses
            .create_warehouse(&Warehouse {
                id: WarehouseId::new(),
                ..north.clone()
            })
            .await,
        Err(Error::Conflict(_))
    ));
    let listed = stores
        .warehouses
        .warehouses(PageRequest::new(Some(500), None).unwrap())
        .await
        .unwrap();
    assert_eq!(
        listed.items[0].id,
        WarehouseId::DEFAULT,
        "the built-in default comes first"
    );
    let lamp = stocked(stores, "Lamp", "10.00", 2).await; // 2 in default
    let set = |w: WarehouseId, n: u32| {
        let sku = lamp.sku.clone();
        async move {
            stores
                .warehouses
                .set_warehouse_available(&sku, w, Units::new(n).unwrap())
                .await
        }
    };
    let total = set(north.id, 5).await.expect("set north");
    assert_eq!(total.available(), 7);
    set(south.id, 3).await.expect("set south");
    assert!(matches!(
        set(WarehouseId::new(), 1).await,
        Err(Error::NotFound("warehouse"))
    ));
    sums_hold(stores, &lamp).await;

    // 4 units: all from north (5 available, the most).
    let first = stores
        .orders
        .create_pending(&new_order("wh-1", &[(&lamp, 4)]))
        .await
        .expect("placed");
    let levels = by_code(stores, &lamp.sku).await;
    assert_eq!(levels[north.code.as_str()], (5, 4));
    // 5 units: south has 3 (now the most), then default 2.
    let second = stores
        .orders
        .create_pending(&new_order("wh-2", &[(&lamp, 5)]))
        .await
        .expect("placed");
    let levels = by_code(stores, &lamp.sku).await;
    assert_eq!(levels[south.code.as_str()], (3, 3));
    assert_eq!(levels["default"], (2, 2));
    sums_hold(stores, &lamp).await;
    // Nothing is left but north's 1: an order of 2 is refused whole.
    assert!(matches!(
        stores
            .orders
            .create_pending(&new_order("wh-3", &[(&lamp, 2)]))
            .await,
        Err(Error::InsufficientStock(_))
    ));
    // The sale leaves the warehouses it was split over; the release frees them.
    stores.orders.confirm(first.id).await.expect("confirm");
    stores.orders.cancel(second.id).await.expect("cancel");
    let levels = by_code(stores, &lamp.sku).await;
    assert_eq!(levels[north.code.as_str()], (1, 0));
    assert_eq!(levels[south.code.as_str()], (3, 0));
    assert_eq!(levels["default"], (2, 0));
    // A sold order cancelled: its units go back where they came from.
    stores.orders.cancel(first.id).await.expect("cancel a sale");
    assert_eq!(
        by_code(stores, &lamp.sku).await[north.code.as_str()],
        (5, 0)
    );
    sums_hold(stores, &lamp).await;

    // Transfers: atomic, refused when `from` lacks the units, total unchanged.
    let moved = stores
        .warehouses
        .transfer(&Transfer {
            sku: lamp.sku.clone(),
            from: north.id,
            to: south.id,
            quantity: Units::new(4).unwrap(),
        })
        .await
        .expect("transfer");
    assert_eq!(
        moved
            .iter()
            .find(|l| l.warehouse_id == south.id)
            .unwrap()
            .on_hand,
        7
    );
    let refused = stores
        .warehouses
        .transfer(&Transfer {
            sku: lamp.sku.clone(),
            from: north.id,
            to: south.id,
            quantity: Units::new(2).unwrap(),
        })
        .await;
    assert!(
        matches!(refused, Err(Error::InsufficientStock(_))),
        "{refused:?}"
    );
    assert_eq!(
        by_code(stores, &lamp.sku).await[north.code.as_str()],
        (1, 0)
    );
    assert_eq!(
        stores
            .inventory
            .stock(&lamp.sku)
            .await
            .unwrap()
            .unwrap()
            .available(),
        10
    );
    sums_hold(stores, &lamp).await;
    // Low stock per warehouse.
    let low = stores
        .warehouses
        .low_stock_in(north.id, Units::new(1).unwrap(), PageRequest::default())
        .await
        .unwrap();
    assert!(low
        .items
        .iter()
        .any(|l| l.sku == lamp.sku && l.available() == 1));
    let _ = OrderId::new();
}

pub async fn concurrent_orders_never_oversell_any_warehouse(stores: &Stores) {
    let east = warehouse(
        stores,
        &format!("e{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    )
    .await;
    let mug = stocked(stores, "Mug", "4.00", 7).await;
    stores
        .warehouses
        .set_warehouse_available(&mug.sku, east.id, Units::new(6).unwrap())
        .await
        .unwrap();
    // 13 units over two warehouses, 40 orders of 1 or 2 at once.
    let attempts = (0..40).map(|i| {
        let order = new_order(&format!("race-{i}"), &[(&mug, 1 + i % 2)]);
        async move {
            stores
                .orders
                .create_pending(&order)
                .await
                .map(|o| (o.id, 1 + i % 2))
        }
    });
    let results = futures::future::join_all(attempts).await;
    let placed: u32 = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(_, q)| *q)
        .sum();
    assert!((12..=13).contains(&placed), "placed {placed} units of 13");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(_) | Err(Error::InsufficientStock(_)))));
    sums_hold(stores, &mug).await;
    // Confirm half and cancel the rest at once: the warehouses follow.
    let moves = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .enumerate()
        .map(|(i, (id, _))| {
            let id = *id;
            async move {
                if i % 2 == 0 {
                    stores.orders.confirm(id).await.map(drop)
                } else {
                    stores.orders.cancel(id).await.map(drop)
                }
            }
        });
    for r in futures::future::join_all(moves).await {
        r.expect("moved");
    }
    sums_hold(stores, &mug).await;
    let levels = stores.warehouses.warehouse_levels(&mug.sku).await.unwrap();
    assert!(levels.iter().all(|l| l.reserved == 0), "{levels:?}");
}
