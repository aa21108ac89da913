//! The sales reports port: sales only, each line as it was placed, windows on the order's
//! creation time, and figures that follow later status changes (a cancelled sale leaves).

use super::support::{new_order, product};
use chrono::{Duration, TimeZone, Utc};
use emporium_domain::model::{
    now, NewOrder, OrderStatus, PageRequest, Product, SalesWindow, StockLevel, SupplierId, Units,
};
use emporium_domain::ports::Stores;
use rust_decimal::Decimal;
use std::str::FromStr;

async fn supplied(
    stores: &Stores,
    name: &str,
    category: &str,
    price: &str,
    supplier: Option<SupplierId>,
) -> Product {
    let mut p = product(name, category, price);
    p.supplier_id = supplier;
    stores.catalog.insert(&p).await.expect("insert product");
    stores
        .inventory
        .create_stock(&p.sku, p.id, Units::new(100).unwrap())
        .await
        .expect("create stock");
    p
}

/// Places `order` as created at `at`, and confirms it.
async fn sold(stores: &Stores, mut order: NewOrder, at: chrono::DateTime<Utc>) -> NewOrder {
    order.created_at = at;
    stores.orders.create_pending(&order).await.unwrap();
    stores.orders.confirm(order.id).await.unwrap();
    order
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn all() -> PageRequest {
    PageRequest {
        limit: 500,
        offset: 0,
    }
}

pub async fn reports_count_sales_as_placed_and_follow_later_changes(stores: &Stores) {
    let (s1, s2) = (SupplierId::new(), SupplierId::new());
    let bag = supplied(stores, "Bag", "bags", "10.00", Some(s1)).await;
    let shoe = supplied(stores, "Shoe", "shoes", "7.50", Some(s2)).await;
    let hat = supplied(stores, "Hat", "hats", "99.99", None).await;
    let t = now();
    // 40 days ago (whole months and days of the rollup), 3 days ago at a partial hour,
    // and now (the partial day at the window's end).
    let old = sold(
        stores,
        new_order("c1", &[(&bag, 2), (&shoe, 1)]),
        t - Duration::days(40),
    )
    .await;
    let recent = sold(
        stores,
        new_order("c2", &[(&bag, 1)]),
        t - Duration::days(3) - Duration::minutes(7),
    )
    .await;
    stores
        .orders
        .advance(recent.id, OrderStatus::Shipped)
        .await
        .unwrap();
    stores
        .orders
        .advance(recent.id, OrderStatus::Delivered)
        .await
        .unwrap();
    // Not sales: pending, failed, and a sale cancelled later.
    let mut pending = new_order("c3", &[(&shoe, 3)]);
    pending.created_at = t;
    stores.orders.create_pending(&pending).await.unwrap();
    let mut failed = new_order("c4", &[(&bag, 5)]);
    failed.created_at = t;
    stores.orders.create_pending(&failed).await.unwrap();
    stores.orders.fail(failed.id).await.unwrap();
    let cancelled = sold(stores, new_order("c5", &[(&hat, 1)]), t - Duration::days(2)).await;
    stores.orders.cancel(cancelled.id).await.unwrap();

    let open = SalesWindow::default();
    let products = stores.reports.sales_by_product(open, all()).await.unwrap();
    assert_eq!(products.total, 2, "{products:?}");
    let figures: Vec<_> = products
        .items
        .iter()
        .map(|s| (s.product_id, s.units, s.revenue.amount()))
        .collect();
    assert_eq!(
        figures,
        vec![(bag.id, 3, dec("30.00")), (shoe.id, 1, dec("7.50"))],
        "highest revenue first; pending, failed and cancelled orders are not sales"
    );

    let categories = stores.reports.sales_by_category(open, all()).await.unwrap();
    let figures: Vec<_> = categories
        .items
        .iter()
        .map(|s| (s.category.as_str().to_owned(), s.units, s.revenue.amount()))
        .collect();
    assert_eq!(
        figures,
        vec![
            ("bags".to_owned(), 3, dec("30.00")),
            ("shoes".to_owned(), 1, dec("7.50"))
        ]
    );

    let suppliers = stores.reports.sales_by_supplier(open, all()).await.unwrap();
    assert_eq!(suppliers.total, 2);
    let first = &suppliers.items[0];
    assert_eq!(
        (
            first.supplier_id,
            first.units,
            first.orders,
            first.delivered_orders
        ),
        (s1, 3, 2, 1)
    );
    assert_eq!(first.revenue.amount(), dec("30.00"));
    let second = &suppliers.items[1];
    assert_eq!(
        (
            second.supplier_id,
            second.units,
            second.orders,
            second.delivered_orders
        ),
        (s2, 1, 1, 0)
    );
    assert_eq!(second.delivery_seconds, 0);
    assert_eq!(second.mean_hours_to_delivery(), None);

    // A window that starts mid-day 10 days ago and ends an hour from now: only `recent`.
    let window = SalesWindow::new(
        Some(t - Duration::days(10) - Duration::minutes(90)),
        Some(t + Duration::hours(1)),
    )
    .unwrap();
    let products = stores
        .reports
        .sales_by_product(window, all())
        .await
        .unwrap();
    let figures: Vec<_> = products
        .items
        .iter()
        .map(|s| (s.product_id, s.units))
        .collect();
    assert_eq!(figures, vec![(bag.id, 1)]);
    // One that ends just before `recent` was placed: nothing of it.
    let before = SalesWindow::new(None, Some(recent.created_at)).unwrap();
    let products = stores
        .reports
        .sales_by_product(before, all())
        .await
        .unwrap();
    let figures: Vec<_> = products
        .items
        .iter()
        .map(|s| (s.product_id, s.units))
        .collect();
    assert_eq!(figures, vec![(bag.id, 2), (shoe.id, 1)]);
    // One that starts exactly at it: `recent` only (`from` is inclusive).
    let from = SalesWindow::new(Some(recent.created_at), None).unwrap();
    let products = stores.reports.sales_by_product(from, all()).await.unwrap();
    assert_eq!(products.items.len(), 1);
    assert_eq!(products.items[0].units, 1);

    // Paging: the total stays, the page moves.
    let page = PageRequest {
        limit: 1,
        offset: 1,
    };
    let products = stores.reports.sales_by_product(open, page).await.unwrap();
    assert_eq!((products.total, products.items.len()), (2, 1));
    assert_eq!(products.items[0].product_id, shoe.id);
    let past = PageRequest {
        limit: 1,
        offset: 5,
    };
    let products = stores.reports.sales_by_product(open, past).await.unwrap();
    assert_eq!(
        (products.total, products.items.len()),
        (2, 0),
        "a page past the end keeps the total"
    );

    // A sale cancelled after it was counted leaves every report.
    stores.orders.cancel(old.id).await.unwrap();
    let products = stores.reports.sales_by_product(open, all()).await.unwrap();
    let figures: Vec<_> = products
        .items
        .iter()
        .map(|s| (s.product_id, s.units))
        .collect();
    assert_eq!(figures, vec![(bag.id, 1)]);
    let suppliers = stores.reports.sales_by_supplier(open, all()).await.unwrap();
    assert_eq!(suppliers.total, 1);
    assert_eq!(
        (
            suppliers.items[0].orders,
            suppliers.items[0].delivered_orders
        ),
        (1, 1)
    );
    assert_eq!(suppliers.items[0].delivered_share(), 1.0);
}

pub async fn reports_list_low_stock_lowest_first(stores: &Stores) {
    let a = supplied(stores, "A", "things", "1.00", None).await;
    let b = supplied(stores, "B", "things", "1.00", None).await;
    let c = supplied(stores, "C", "things", "1.00", None).await;
    stores
        .inventory
        .set_available(&a.sku, Units::new(4).unwrap())
        .await
        .unwrap();
    stores
        .inventory
        .set_available(&b.sku, Units::new(1).unwrap())
        .await
        .unwrap();
    stores
        .inventory
        .set_available(&c.sku, Units::new(50).unwrap())
        .await
        .unwrap();
    // A reservation lowers what is available, not what is on hand.
    let mut order = new_order("c1", &[(&a, 2)]);
    order.created_at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    stores.orders.create_pending(&order).await.unwrap();

    let low = stores
        .reports
        .low_stock(Units::new(2).unwrap(), all())
        .await
        .unwrap();
    let found: Vec<(String, u32)> = low
        .items
        .iter()
        .map(|l: &StockLevel| (l.sku.as_str().to_owned(), l.available()))
        .collect();
    assert_eq!(
        found,
        vec![
            (b.sku.as_str().to_owned(), 1),
            (a.sku.as_str().to_owned(), 2)
        ],
        "lowest first, available = on hand - reserved"
    );
    assert_eq!(low.total, 2);
    let none = stores.reports.low_stock(Units::ZERO, all()).await.unwrap();
    assert_eq!(none.total, 0);
}
