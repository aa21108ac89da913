//! Bulk loading and `emporium seed` (ADR 0023): loaded records are ordinary records for
//! every other port, a load is refused whole on a duplicate, and a seeded shop is
//! consistent (reconcile finds nothing, warehouses add up, reports count every sale to
//! the cent) and refuses a second seed without changing anything.

use super::support::product;
use emporium_domain::model::{
    Currency, CustomerId, Money, Order, OrderId, OrderItem, OrderQuery, OrderStatus, PageRequest,
    Payment, PaymentId, PaymentStatus, ProductQuery, Quantity, SalesWindow, StockLoad, Units,
    Warehouse, WarehouseId, WarehouseInput,
};
use emporium_domain::ports::Stores;
use emporium_domain::service::ReconciliationService;
use emporium_domain::Error;
use emporium_seed::{Quiet, SeedPlan, SeedTargets};
use rust_decimal::Decimal;

fn targets(stores: &Stores) -> SeedTargets {
    SeedTargets {
        catalog: stores.catalog_load.clone(),
        ledger: stores.ledger_load.clone(),
        categories: stores.categories.clone(),
        warehouses: stores.warehouses.clone(),
        reports: stores.reports.clone(),
    }
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).unwrap()
}

fn settled(p: &emporium_domain::model::Product, qty: i64, status: OrderStatus) -> Order {
    let at = emporium_domain::model::now() - chrono::Duration::days(3);
    let id = OrderId::new();
    let total = p.price.times(qty as u32).unwrap();
    Order {
        id,
        customer_id: CustomerId::parse("history").unwrap(),
        customer_name: None,
        status,
        items: vec![OrderItem {
            product_id: p.id,
            sku: p.sku.clone(),
            name: p.name.clone(),
            category: p.category.clone(),
            supplier_id: None,
            quantity: Quantity::new(qty).unwrap(),
            unit_price: p.price,
            line_total: total,
        }],
        total,
        payment: Some(Payment {
            id: PaymentId::new(),
            order_id: id,
            status: if status.is_sale() {
                PaymentStatus::Authorized
            } else {
                PaymentStatus::Voided
            },
            amount: total,
            method: "card".into(),
            gateway_ref: Some(format!("ref_{id}")),
            decline_reason: None,
            created_at: at,
            updated_at: at,
        }),
        failure_reason: None,
        created_at: at,
        updated_at: at + chrono::Duration::hours(50),
    }
}

pub async fn bulk_loads_are_ordinary_records_and_refused_whole_on_duplicates(stores: &Stores) {
    let north = Warehouse::parse_new(WarehouseInput {
        code: Some("north".into()),
        name: Some("North".into()),
        region: Some("EU".into()),
    })
    .unwrap();
    stores.warehouses.create_warehouse(&north).await.unwrap();
    let lamp = product("Lamp", "home", "19.99");
    let stock = StockLoad {
        sku: lamp.sku.clone(),
        product_id: lamp.id,
        warehouses: vec![
            (WarehouseId::DEFAULT, Units::new(3).unwrap()),
            (north.id, Units::new(7).unwrap()),
        ],
    };
    stores
        .ledger_load
        .load_stock(std::slice::from_ref(&stock))
        .await
        .unwrap();
    stores
        .catalog_load
        .load_products(std::slice::from_ref(&lamp))
        .await
        .unwrap();
    assert_eq!(
        stores.catalog.get(lamp.id).await.unwrap(),
        Some(lamp.clone())
    );
    assert!(matches!(
        stores
            .catalog_load
            .load_products(std::slice::from_ref(&lamp))
            .await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(stores.catalog_load.loaded().await.unwrap().products, 1);
    let level = stores.inventory.stock(&lamp.sku).await.unwrap().unwrap();
    assert_eq!((level.on_hand, level.reserved), (10, 0));
    let mut split: Vec<(String, u32)> = stores
        .warehouses
        .warehouse_levels(&lamp.sku)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.code.to_string(), l.on_hand))
        .collect();
    split.sort();
    assert_eq!(split, vec![("default".into(), 3), ("north".into(), 7)]);

    // A duplicate SKU is refused and the batch writes nothing.
    let other = product("Rug", "home", "5.00");
    let twice = [
        StockLoad {
            sku: other.sku.clone(),
            product_id: other.id,
            warehouses: vec![(WarehouseId::DEFAULT, Units::new(1).unwrap())],
        },
        stock.clone(),
    ];
    assert!(matches!(
        stores.ledger_load.load_stock(&twice).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(stores.inventory.stock(&other.sku).await.unwrap(), None);

    // Settled orders with their payments; reports count the sale once folded in.
    let delivered = settled(&lamp, 2, OrderStatus::Delivered);
    let cancelled = settled(&lamp, 1, OrderStatus::Cancelled);
    stores
        .ledger_load
        .load_orders(&[delivered.clone(), cancelled.clone()])
        .await
        .unwrap();
    let read = stores.orders.get(delivered.id).await.unwrap().unwrap();
    assert_eq!(read.status, OrderStatus::Delivered);
    assert_eq!(read.total, usd("39.98"));
    assert_eq!(
        read.payment.as_ref().map(|p| p.status),
        Some(PaymentStatus::Authorized)
    );
    let level = stores.inventory.stock(&lamp.sku).await.unwrap().unwrap();
    assert_eq!(
        (level.on_hand, level.reserved),
        (10, 0),
        "history holds no stock"
    );
    while stores.reports.catch_up().await.unwrap() > 0 {}
    let sales = stores
        .reports
        .sales_by_product(
            SalesWindow::new(None, None).unwrap(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let lamp_sales: Vec<_> = sales
        .items
        .iter()
        .filter(|s| s.product_id == lamp.id)
        .collect();
    assert_eq!(lamp_sales.len(), 1);
    assert_eq!(lamp_sales[0].units, 2);
    assert_eq!(lamp_sales[0].revenue.amount(), Decimal::new(3998, 2));

    // The same orders again: refused, nothing doubled.
    assert!(matches!(
        stores
            .ledger_load
            .load_orders(std::slice::from_ref(&delivered))
            .await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(stores.ledger_load.order_count().await.unwrap(), 2);
    // A pending order is not history.
    let mut pending = settled(&lamp, 1, OrderStatus::Delivered);
    pending.status = OrderStatus::Pending;
    assert!(matches!(
        stores.ledger_load.load_orders(&[pending]).await,
        Err(Error::Validation(_))
    ));
    assert_eq!(stores.ledger_load.order_count().await.unwrap(), 2);
}

pub async fn a_seeded_shop_is_consistent_and_refuses_a_second_seed(stores: &Stores) {
    let plan = SeedPlan::new(60, 40, 400, 7);
    let report = emporium_seed::seed(&plan, &targets(stores), &Quiet)
        .await
        .expect("seed");
    assert_eq!(
        (report.products, report.customers, report.orders),
        (60, 40, 400)
    );
    assert!(report.reviews > 0, "delivered orders bring reviews");

    // Through the ordinary ports.
    let products = stores.catalog.list(&ProductQuery::default()).await.unwrap();
    assert_eq!(products.total, 60);
    let orders = stores
        .orders
        .list(&OrderQuery {
            page: PageRequest {
                limit: 500,
                offset: 0,
            },
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(orders.total, 400);
    let statuses: std::collections::HashSet<_> = orders.items.iter().map(|o| o.status).collect();
    for s in [
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Failed,
    ] {
        assert!(
            statuses.contains(&s),
            "{s:?} in the status mix: {statuses:?}"
        );
    }
    assert!(!statuses.contains(&OrderStatus::Pending));

    // Every warehouse split adds up to its total.
    for p in &products.items {
        let total = stores.inventory.stock(&p.sku).await.unwrap().unwrap();
        let levels = stores.warehouses.warehouse_levels(&p.sku).await.unwrap();
        assert_eq!(
            levels.iter().map(|l| l.on_hand).sum::<u32>(),
            total.on_hand,
            "{}",
            p.sku
        );
    }

    // Reports count every sale, to the cent.
    let sold: Decimal = orders
        .items
        .iter()
        .filter(|o| o.status.is_sale())
        .map(|o| o.total.amount())
        .sum();
    let sales = stores
        .reports
        .sales_by_product(
            SalesWindow::new(None, None).unwrap(),
            PageRequest {
                limit: 500,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let reported: Decimal = sales.items.iter().map(|s| s.revenue.amount()).sum();
    assert_eq!(reported, sold);

    // Reconcile: the stores agree.
    let check = ReconciliationService::new(stores.clone())
        .check()
        .await
        .unwrap();
    assert!(check.is_clean(), "{check:?}");

    // A second seed refuses before writing anything.
    let again = emporium_seed::seed(&SeedPlan::new(5, 5, 5, 8), &targets(stores), &Quiet).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert_eq!(
        stores
            .catalog
            .list(&ProductQuery::default())
            .await
            .unwrap()
            .total,
        60
    );
    assert_eq!(stores.ledger_load.order_count().await.unwrap(), 400);
}
