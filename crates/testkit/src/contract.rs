//! The contract suite: what every adapter set must do, written once against the ports.
//!
//! Run it for an adapter set with one line in a test file:
//!
//! ```ignore
//! emporium_testkit::contract_suite!(async { emporium_testkit::Fixture::new(my_stores().await) });
//! ```
//!
//! Each case becomes its own `#[test]` with a fresh fixture, so cases never share state.

mod crash;

pub use crash::*;

use chrono::Duration;
use emporium_domain::model::{
    now, AttrFilter, Category, Contact, Currency, Description, Money, Name, NewOrder, OrderId,
    OrderItem, OrderQuery, OrderRequest, OrderStatus, PageRequest, Payment, PaymentId,
    PaymentStatus, PaymentToken, Product, ProductId, ProductQuery, ProductSort, Quantity, Region,
    SagaEntry, SagaId, SagaKind, SagaRecord, SagaState, Sku, StepOutcome, Supplier, SupplierId,
    Tag, Units, Variant,
};
use emporium_domain::ports::{Authorization, Stores};
use emporium_domain::service::{
    CatalogService, Finding, FindingKind, Mode, OrderService, ReconciliationReport,
    ReconciliationService, RecoveryService, Resolution,
};
use emporium_domain::{Error, FieldError};
use rust_decimal::Decimal;
use serde_json::json;
use std::future::Future;
use std::str::FromStr;

/// Runs an async test body on a multi-threaded runtime (real parallelism for the
/// concurrency cases).
pub fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Expands to one `#[test]` per contract case, each with a fresh fixture from `$fixture`
/// (an expression of type `impl Future<Output = emporium_testkit::Fixture>`).
#[macro_export]
macro_rules! contract_suite {
    ($fixture:expr) => {
        $crate::contract_suite!(@cases $fixture;
            catalog_round_trips_every_field,
            catalog_refuses_duplicate_sku_and_changes_nothing,
            catalog_replaces_and_deletes,
            catalog_filters_like_the_reference,
            catalog_sorts_and_pages,
            catalog_counts_products_per_supplier,
            suppliers_crud,
            inventory_create_set_and_remove,
            orders_reserve_then_confirm_moves_stock,
            orders_short_line_changes_nothing,
            orders_fail_releases_reservation_once,
            orders_cancel_pending_and_confirmed,
            orders_refuse_invalid_transitions,
            orders_create_pending_is_idempotent,
            orders_list_filters,
            orders_never_oversell_under_concurrency,
            orders_crossed_baskets_do_not_deadlock,
            payments_record_keeps_first_id,
            saga_log_records_steps,
            idempotency_claims_replays_and_mismatches,
            idempotency_one_of_many_concurrent_claims_proceeds,
            saga_places_confirmed_order,
            saga_declined_payment_restores_stock,
            saga_product_create_and_delete,
            placement_recovers_from_a_crash_after_every_step,
            cancellation_recovers_from_a_crash_after_every_step,
            product_sagas_recover_from_a_crash_after_every_step,
            recovery_drives_paid_orders_forward_and_releases_unpaid_ones,
            recovery_expires_abandoned_reservations,
            reconcile_ports_scan_in_pages_and_repair_atomically,
            reconcile_finds_nothing_in_consistent_stores,
            reconcile_creates_missing_stock_records,
            reconcile_removes_orphan_stock_only_when_unreserved,
            reconcile_releases_leaked_reservations_and_reports_missing_ones,
            reconcile_voids_authorizations_of_closed_orders,
            reconcile_records_lost_authorizations_of_sales_and_reports_unpaid_ones,
            reconcile_defers_what_sagas_and_recovery_own,
            reconcile_repairs_never_erase_live_reservations
        );
    };
    (@cases $fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::contract::run(async {
                    let fixture: $crate::Fixture = $fixture.await;
                    $crate::contract::$case(&fixture.stores).await;
                    drop(fixture);
                });
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).expect("valid money")
}

/// A unique SKU per call, so cases never collide even on a shared store.
pub fn unique_sku(prefix: &str) -> Sku {
    Sku::parse(format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
    .expect("valid sku")
}

/// A product with every field set.
pub fn product(name: &str, category: &str, price: &str) -> Product {
    let at = now();
    Product {
        id: ProductId::new(),
        sku: unique_sku("SKU"),
        name: Name::parse(name).unwrap(),
        description: Description::parse(format!("The {name}, described")).unwrap(),
        category: Category::parse(category).unwrap(),
        price: usd(price),
        low_stock_threshold: Units::new(3).unwrap(),
        supplier_id: None,
        tags: vec![Tag::parse("featured").unwrap()],
        attributes:
            json!({"color": "red", "ram_gb": 16, "display": {"size": "15.6in", "hdr": true}})
                .as_object()
                .unwrap()
                .clone(),
        variants: vec![Variant {
            sku: unique_sku("VAR"),
            attributes: json!({"size": "S"}).as_object().unwrap().clone(),
        }],
        created_at: at,
        updated_at: at,
    }
}

fn supplier(name: &str) -> Supplier {
    let at = now();
    Supplier {
        id: SupplierId::new(),
        name: Name::parse(name).unwrap(),
        contact: Contact {
            email: Some("sales@example.com".into()),
            phone: None,
        },
        region: Region::parse("EU").unwrap(),
        created_at: at,
        updated_at: at,
    }
}

/// Stores a product in the catalog with `stock` units on hand.
pub async fn stocked(stores: &Stores, name: &str, price: &str, stock: u32) -> Product {
    let p = product(name, "electronics", price);
    stores.catalog.insert(&p).await.expect("insert product");
    stores
        .inventory
        .create_stock(&p.sku, p.id, Units::new(stock).unwrap())
        .await
        .expect("create stock");
    p
}

/// A priced order for `lines` of `(product, quantity)`.
pub fn new_order(customer: &str, lines: &[(&Product, u32)]) -> NewOrder {
    let items: Vec<OrderItem> = lines
        .iter()
        .map(|(p, q)| OrderItem {
            product_id: p.id,
            sku: p.sku.clone(),
            name: p.name.clone(),
            category: p.category.clone(),
            quantity: Quantity::new(*q as i64).unwrap(),
            unit_price: p.price,
            line_total: p.price.times(*q).unwrap(),
        })
        .collect();
    let total = items.iter().skip(1).fold(items[0].line_total, |acc, i| {
        acc.plus(&i.line_total).unwrap()
    });
    NewOrder {
        id: OrderId::new(),
        customer_id: emporium_domain::model::CustomerId::parse(customer).unwrap(),
        customer_name: None,
        items,
        total,
        created_at: now(),
    }
}

async fn available(stores: &Stores, p: &Product) -> u32 {
    stores
        .inventory
        .stock(&p.sku)
        .await
        .unwrap()
        .expect("stock record")
        .available()
}

pub(crate) async fn level(stores: &Stores, p: &Product) -> (u32, u32) {
    let s = stores.inventory.stock(&p.sku).await.unwrap().unwrap();
    (s.on_hand, s.reserved)
}

fn page(limit: u32, offset: u64) -> PageRequest {
    PageRequest { limit, offset }
}

// ---------------------------------------------------------------------------------------
// Catalog and suppliers
// ---------------------------------------------------------------------------------------

pub async fn catalog_round_trips_every_field(stores: &Stores) {
    let p = product("Gaming Laptop", "electronics", "1299.99");
    stores.catalog.insert(&p).await.unwrap();
    let back = stores.catalog.get(p.id).await.unwrap().expect("stored");
    assert_eq!(back, p, "a product must come back exactly as stored");
    assert_eq!(back.price.to_string(), "1299.99");
    let many = stores
        .catalog
        .get_many(&[p.id, ProductId::new()])
        .await
        .unwrap();
    assert_eq!(many, vec![p]);
    assert!(stores
        .catalog
        .get(ProductId::new())
        .await
        .unwrap()
        .is_none());
}

pub async fn catalog_refuses_duplicate_sku_and_changes_nothing(stores: &Stores) {
    let first = product("First", "books", "10.00");
    stores.catalog.insert(&first).await.unwrap();
    let mut second = product("Second", "books", "20.00");
    second.sku = first.sku.clone();
    let err = stores.catalog.insert(&second).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "got {err:?}");
    assert!(stores.catalog.get(second.id).await.unwrap().is_none());
    assert_eq!(stores.catalog.get(first.id).await.unwrap().unwrap(), first);
}

pub async fn catalog_replaces_and_deletes(stores: &Stores) {
    let mut p = product("Mouse", "electronics", "25.00");
    stores.catalog.insert(&p).await.unwrap();
    p.name = Name::parse("Wireless Mouse").unwrap();
    p.price = usd("29.50");
    p.attributes = json!({"dpi": 1600}).as_object().unwrap().clone();
    stores.catalog.replace(&p).await.unwrap();
    assert_eq!(stores.catalog.get(p.id).await.unwrap().unwrap(), p);

    let ghost = product("Ghost", "electronics", "1.00");
    assert!(matches!(
        stores.catalog.replace(&ghost).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(stores.catalog.delete(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(stores.catalog.delete(p.id).await.unwrap(), None);
    assert!(stores.catalog.get(p.id).await.unwrap().is_none());
}

pub async fn catalog_filters_like_the_reference(stores: &Stores) {
    let s = supplier("Acme");
    stores.suppliers.insert(&s).await.unwrap();
    let cat = format!("cat{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut laptop = product("Gaming Laptop", &cat, "1299.99");
    laptop.supplier_id = Some(s.id);
    laptop.tags = vec![Tag::parse("gaming").unwrap()];
    let mut tablet = product("Drawing Tablet", &cat, "349.00");
    tablet.attributes = json!({"color": "black", "ram_gb": 8, "display": {"size": "13in"}})
        .as_object()
        .unwrap()
        .clone();
    tablet.description = Description::parse("A pen display for artists").unwrap();
    let other = product("Paperback", "books-other", "12.00");
    for p in [&laptop, &tablet, &other] {
        stores.catalog.insert(p).await.unwrap();
    }
    let ids = |q: ProductQuery| async move {
        let mut ids: Vec<ProductId> = stores
            .catalog
            .list(&q)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.id)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<ProductId>| {
        v.sort();
        v
    };
    let base = ProductQuery {
        category: Some(cat.clone()),
        ..Default::default()
    };
    assert_eq!(ids(base.clone()).await, sorted(vec![laptop.id, tablet.id]));
    let cheap = ProductQuery {
        max_price: Some(Decimal::from(349)),
        ..base.clone()
    };
    assert_eq!(ids(cheap).await, vec![tablet.id], "max_price is inclusive");
    let dear = ProductQuery {
        min_price: Some(Decimal::from_str("349.01").unwrap()),
        ..base.clone()
    };
    assert_eq!(ids(dear).await, vec![laptop.id]);
    let by_supplier = ProductQuery {
        supplier_id: Some(s.id),
        ..Default::default()
    };
    assert_eq!(ids(by_supplier).await, vec![laptop.id]);
    let nested = ProductQuery {
        attributes: vec![AttrFilter::parse("display.size", "15.6in").unwrap()],
        ..base.clone()
    };
    assert_eq!(ids(nested).await, vec![laptop.id]);
    let numeric = ProductQuery {
        attributes: vec![AttrFilter::parse("ram_gb", "8").unwrap()],
        ..base.clone()
    };
    assert_eq!(
        ids(numeric).await,
        vec![tablet.id],
        "attr values match numbers"
    );
    let boolean = ProductQuery {
        attributes: vec![AttrFilter::parse("display.hdr", "true").unwrap()],
        ..base.clone()
    };
    assert_eq!(ids(boolean).await, vec![laptop.id]);
    let text_name = ProductQuery {
        text: Some("laptop".into()),
        ..base.clone()
    };
    assert_eq!(ids(text_name).await, vec![laptop.id], "q searches names");
    let text_desc = ProductQuery {
        text: Some("artists".into()),
        ..base.clone()
    };
    assert_eq!(
        ids(text_desc).await,
        vec![tablet.id],
        "q searches descriptions"
    );
    let text_tag = ProductQuery {
        text: Some("gaming".into()),
        ..base.clone()
    };
    assert_eq!(ids(text_tag).await, vec![laptop.id], "q searches tags");
    let hostile = ProductQuery {
        text: Some("{\"$gt\": \"\"}".into()),
        category: Some("{\"$ne\": null}".into()),
        ..Default::default()
    };
    assert!(
        ids(hostile).await.is_empty(),
        "operators in values match literally"
    );
}

pub async fn catalog_sorts_and_pages(stores: &Stores) {
    let cat = format!("sort{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut made = Vec::new();
    for (name, price) in [("Charlie", "30.00"), ("Alpha", "10.00"), ("Bravo", "20.00")] {
        let p = product(name, &cat, price);
        stores.catalog.insert(&p).await.unwrap();
        made.push(p);
    }
    let names = |sort: ProductSort, page: PageRequest| {
        let cat = cat.clone();
        async move {
            let q = ProductQuery {
                category: Some(cat),
                sort,
                page,
                ..Default::default()
            };
            let page = stores.catalog.list(&q).await.unwrap();
            assert_eq!(page.total, 3, "total counts every match, not the page");
            page.items
                .into_iter()
                .map(|p| p.name.into_inner())
                .collect::<Vec<_>>()
        }
    };
    let all = page(50, 0);
    assert_eq!(
        names(ProductSort::PriceAsc, all).await,
        ["Alpha", "Bravo", "Charlie"]
    );
    assert_eq!(
        names(ProductSort::PriceDesc, all).await,
        ["Charlie", "Bravo", "Alpha"]
    );
    assert_eq!(
        names(ProductSort::NameAsc, all).await,
        ["Alpha", "Bravo", "Charlie"]
    );
    assert_eq!(
        names(ProductSort::CreatedAt, all).await,
        ["Charlie", "Alpha", "Bravo"]
    );
    assert_eq!(
        names(ProductSort::NewestFirst, all).await,
        ["Bravo", "Alpha", "Charlie"]
    );
    assert_eq!(
        names(ProductSort::PriceAsc, page(2, 1)).await,
        ["Bravo", "Charlie"]
    );
    assert!(names(ProductSort::PriceAsc, page(2, 5)).await.is_empty());
}

pub async fn catalog_counts_products_per_supplier(stores: &Stores) {
    let s = supplier("Globex");
    stores.suppliers.insert(&s).await.unwrap();
    assert_eq!(stores.catalog.count_by_supplier(s.id).await.unwrap(), 0);
    for name in ["One", "Two"] {
        let mut p = product(name, "tools", "5.00");
        p.supplier_id = Some(s.id);
        stores.catalog.insert(&p).await.unwrap();
    }
    stores
        .catalog
        .insert(&product("Three", "tools", "5.00"))
        .await
        .unwrap();
    assert_eq!(stores.catalog.count_by_supplier(s.id).await.unwrap(), 2);
}

pub async fn suppliers_crud(stores: &Stores) {
    let mut s = supplier("Initech");
    stores.suppliers.insert(&s).await.unwrap();
    assert_eq!(stores.suppliers.get(s.id).await.unwrap(), Some(s.clone()));
    s.region = Region::parse("APAC").unwrap();
    s.contact.phone = Some("+44 20 7946 0000".into());
    stores.suppliers.replace(&s).await.unwrap();
    assert_eq!(stores.suppliers.get(s.id).await.unwrap(), Some(s.clone()));
    let listed = stores.suppliers.list(page(500, 0)).await.unwrap();
    assert!(listed.items.contains(&s));
    assert!(matches!(
        stores.suppliers.replace(&supplier("Nobody")).await,
        Err(Error::NotFound(_))
    ));
    assert!(stores.suppliers.delete(s.id).await.unwrap());
    assert!(!stores.suppliers.delete(s.id).await.unwrap());
    assert_eq!(stores.suppliers.get(s.id).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// Inventory and orders
// ---------------------------------------------------------------------------------------

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

pub async fn payments_record_keeps_first_id(stores: &Stores) {
    let a = stocked(stores, "Bag", "60.00", 2).await;
    let o = new_order("cust-7", &[(&a, 1)]);
    stores.orders.create_pending(&o).await.unwrap();
    let at = now();
    let first = Payment {
        id: PaymentId::new(),
        order_id: o.id,
        status: PaymentStatus::Authorized,
        amount: o.total,
        method: "card".into(),
        gateway_ref: Some("auth_1".into()),
        decline_reason: None,
        created_at: at,
        updated_at: at,
    };
    let stored = stores.payments.record(&first).await.unwrap();
    assert_eq!(stored, first);
    let voided = Payment {
        id: PaymentId::new(),
        status: PaymentStatus::Voided,
        updated_at: at + Duration::seconds(1),
        created_at: at + Duration::seconds(1),
        ..first.clone()
    };
    let stored = stores.payments.record(&voided).await.unwrap();
    assert_eq!(stored.id, first.id, "the record keeps its first id");
    assert_eq!(stored.created_at, first.created_at);
    assert_eq!(stored.status, PaymentStatus::Voided);
    assert_eq!(
        stores.payments.for_order(o.id).await.unwrap(),
        Some(stored.clone())
    );
    let order = stores.orders.get(o.id).await.unwrap().unwrap();
    assert_eq!(order.payment, Some(stored), "orders carry their payment");
    assert!(stores
        .payments
        .for_order(OrderId::new())
        .await
        .unwrap()
        .is_none());
}

pub async fn saga_log_records_steps(stores: &Stores) {
    let at = now();
    let record = SagaRecord {
        id: SagaId::new(),
        kind: SagaKind::PlaceOrder,
        subject: uuid::Uuid::now_v7(),
        state: SagaState::Running,
        payload: json!({"payment_method": "card"}),
        entries: vec![],
        started_at: at,
        updated_at: at,
    };
    let log = &stores.saga_log;
    log.save(&record).await.unwrap();
    log.save(&record).await.unwrap();
    let mut next = record.clone();
    let entry = SagaEntry {
        step: "reserve_stock".into(),
        outcome: StepOutcome::Succeeded,
        detail: None,
        at: at + Duration::milliseconds(5),
    };
    next.push(entry.clone(), SagaState::Running);
    log.save(&next).await.unwrap();
    let failed = SagaEntry {
        step: "reserve_stock".into(),
        outcome: StepOutcome::CompensationFailed,
        detail: Some("postgres is unavailable".into()),
        at: at + Duration::milliseconds(9),
    };
    next.push(failed.clone(), SagaState::Stuck);
    next.payload = json!({"payment_method": "card", "authorization": null});
    log.save(&next).await.unwrap();
    let back = log.get(record.id).await.unwrap().unwrap();
    assert_eq!(back.entries, vec![entry, failed]);
    assert_eq!(back.state, SagaState::Stuck);
    assert_eq!(back.payload, next.payload, "the payload is replaced");
    assert_eq!(back.started_at, record.started_at, "the start is kept");
    assert_eq!(back.updated_at, next.updated_at);
    let stuck = log.in_state(SagaState::Stuck, 1000).await.unwrap();
    assert!(stuck.iter().any(|s| s.id == record.id));
    let running = log.in_state(SagaState::Running, 1000).await.unwrap();
    assert!(
        !running.iter().any(|s| s.id == record.id),
        "one state at a time"
    );
    assert!(log.get(SagaId::new()).await.unwrap().is_none());
}

pub async fn idempotency_claims_replays_and_mismatches(stores: &Stores) {
    use emporium_domain::ports::IdempotencyClaim::*;
    let keys = &stores.idempotency;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let lease = std::time::Duration::from_secs(60);
    let first = uuid::Uuid::now_v7();
    let claim = keys.claim(&key, "fp-1", first, lease).await.unwrap();
    assert_eq!(claim, Proceed { id: first });
    let again = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(again, InFlight, "a running claim is not taken twice");
    let other = keys
        .claim(&key, "fp-2", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(other, Mismatch);

    keys.release(&key, first).await.unwrap();
    let retaken = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(
        retaken,
        Proceed { id: first },
        "a released key resumes its resource"
    );
    let undone = uuid::Uuid::now_v7();
    keys.release(&key, undone).await.unwrap();
    let fresh = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(fresh, Proceed { id: undone }, "or starts over on a new one");
    let first = undone;

    let body = json!({"id": first, "status": "confirmed", "total": "10.00"});
    keys.complete(&key, 201, &body).await.unwrap();
    let replay = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(replay, Replay { status: 201, body });
    let mismatch = keys
        .claim(&key, "fp-2", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(mismatch, Mismatch);

    // An expired lease (a crashed first attempt) is taken over with the same id.
    let stale = format!("key-{}", uuid::Uuid::new_v4());
    let id = uuid::Uuid::now_v7();
    keys.claim(&stale, "fp", id, lease).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let short = std::time::Duration::from_millis(5);
    assert_eq!(
        keys.claim(&stale, "fp", uuid::Uuid::now_v7(), short)
            .await
            .unwrap(),
        Proceed { id }
    );

    assert!(keys.purge(now() + Duration::seconds(1)).await.unwrap() >= 2);
    let fresh = uuid::Uuid::now_v7();
    assert_eq!(
        keys.claim(&key, "fp-2", fresh, lease).await.unwrap(),
        Proceed { id: fresh },
        "a purged key is new again"
    );
}

pub async fn idempotency_one_of_many_concurrent_claims_proceeds(stores: &Stores) {
    let key = format!("race-{}", uuid::Uuid::new_v4());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let keys = stores.idempotency.clone();
            let key = key.clone();
            tokio::spawn(async move {
                keys.claim(
                    &key,
                    "fp",
                    uuid::Uuid::now_v7(),
                    std::time::Duration::from_secs(60),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut proceeded = 0;
    for t in tasks {
        match t.await.unwrap() {
            emporium_domain::ports::IdempotencyClaim::Proceed { .. } => proceeded += 1,
            emporium_domain::ports::IdempotencyClaim::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(proceeded, 1);
}

// ---------------------------------------------------------------------------------------
// Services over the adapter set: the sagas must behave the same on every set.
// ---------------------------------------------------------------------------------------

pub(crate) fn order_request(lines: &[(&Product, u32)], token: &str) -> OrderRequest {
    OrderRequest {
        customer_id: emporium_domain::model::CustomerId::parse("saga-cust").unwrap(),
        customer_name: None,
        lines: lines
            .iter()
            .map(|(p, q)| (p.id, Quantity::new(*q as i64).unwrap()))
            .collect(),
        payment: PaymentToken {
            method: "card".into(),
            token: token.into(),
        },
    }
}

pub async fn saga_places_confirmed_order(stores: &Stores) {
    let a = stocked(stores, "Headphones", "59.90", 5).await;
    let b = stocked(stores, "Stand", "19.95", 5).await;
    let service = OrderService::new(stores.clone());
    let order = service
        .place(
            OrderId::new(),
            order_request(&[(&a, 2), (&b, 1)], "tok_visa"),
        )
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.total.to_string(), "139.75");
    let payment = order.payment.clone().expect("payment recorded");
    assert_eq!(payment.status, PaymentStatus::Authorized);
    assert_eq!(payment.amount, order.total);
    assert_eq!(level(stores, &a).await, (3, 0));

    let err = service
        .place(OrderId::new(), order_request(&[(&a, 4)], "tok_visa"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientStock(_)));
    assert_eq!(level(stores, &a).await, (3, 0));

    let cancelled = service.cancel(order.id).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.payment.unwrap().status, PaymentStatus::Voided);
    assert_eq!(level(stores, &a).await, (5, 0));
    assert_eq!(level(stores, &b).await, (5, 0));
}

pub async fn saga_declined_payment_restores_stock(stores: &Stores) {
    let a = stocked(stores, "Camera", "499.00", 3).await;
    let service = OrderService::new(stores.clone());
    let err = service
        .place(
            OrderId::new(),
            order_request(&[(&a, 2)], "tok_chargeDeclined"),
        )
        .await
        .unwrap_err();
    let Error::PaymentDeclined { order_id, .. } = err else {
        panic!("expected PaymentDeclined, got {err:?}")
    };
    let order = stores.orders.get(order_id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Failed);
    assert_eq!(order.payment.unwrap().status, PaymentStatus::Declined);
    assert_eq!(
        level(stores, &a).await,
        (3, 0),
        "every reserved unit is back"
    );
    let failed = stores
        .saga_log
        .in_state(SagaState::Compensated, 10_000)
        .await
        .unwrap();
    let saga = failed
        .iter()
        .find(|s| s.subject == order_id.as_uuid())
        .expect("the saga is logged as compensated");
    let steps: Vec<_> = saga
        .entries
        .iter()
        .map(|e| (e.step.as_str(), e.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve_stock", StepOutcome::Succeeded),
            ("authorize_payment", StepOutcome::Failed),
            ("reserve_stock", StepOutcome::Compensated),
        ]
    );
}

pub async fn saga_product_create_and_delete(stores: &Stores) {
    let service = CatalogService::new(stores.clone());
    let sku = unique_sku("SAGA");
    let input = emporium_domain::model::ProductInput {
        sku: Some(sku.to_string()),
        name: Some("Saga Lamp".into()),
        category: Some("home".into()),
        price: Some("12.5".into()),
        stock: Some(4),
        ..Default::default()
    };
    let view = service.create(input.clone()).await.unwrap();
    assert_eq!(view.available(), 4);
    assert_eq!(view.product.price.to_string(), "12.50");
    let dup = service.create(input).await.unwrap_err();
    assert!(matches!(dup, Error::Conflict(_)));
    assert_eq!(
        available(stores, &view.product).await,
        4,
        "duplicate changed nothing"
    );

    let bad = service
        .create(emporium_domain::model::ProductInput {
            sku: Some("bad sku!".into()),
            price: Some("-1".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let Error::Validation(fields) = bad else {
        panic!("expected validation error")
    };
    let names: Vec<&str> = fields
        .iter()
        .map(|f: &FieldError| f.field.as_str())
        .collect();
    for field in ["sku", "name", "category", "price"] {
        assert!(names.contains(&field), "{field} named in {names:?}");
    }

    service.delete(view.product.id).await.unwrap();
    assert!(stores.catalog.get(view.product.id).await.unwrap().is_none());
    assert!(stores.inventory.stock(&sku).await.unwrap().is_none());
    assert!(matches!(
        service.delete(view.product.id).await,
        Err(Error::NotFound(_))
    ));
}

/// A saga log entry for a placement that died after its reservation.
async fn orphaned_placement(stores: &Stores, order: &NewOrder) {
    let at = now();
    let record = SagaRecord {
        id: SagaId::new(),
        kind: SagaKind::PlaceOrder,
        subject: order.id.as_uuid(),
        state: SagaState::Running,
        payload: json!({"payment_method": "card"}),
        entries: vec![SagaEntry {
            step: "reserve_stock".into(),
            outcome: StepOutcome::Succeeded,
            detail: None,
            at,
        }],
        started_at: at,
        updated_at: at,
    };
    stores.saga_log.save(&record).await.unwrap();
}

pub async fn recovery_drives_paid_orders_forward_and_releases_unpaid_ones(stores: &Stores) {
    let p = stocked(stores, "Recovered", "10.00", 10).await;
    // Died after the gateway approved, before the payment was recorded.
    let paid = new_order("rec-1", &[(&p, 2)]);
    stores.orders.create_pending(&paid).await.unwrap();
    let approved = stores
        .gateway
        .authorize(paid.id, &paid.total, "tok_visa")
        .await
        .unwrap();
    assert!(matches!(
        approved,
        emporium_domain::ports::Authorization::Approved { .. }
    ));
    orphaned_placement(stores, &paid).await;
    // Died before the gateway was asked.
    let unpaid = new_order("rec-2", &[(&p, 3)]);
    stores.orders.create_pending(&unpaid).await.unwrap();
    orphaned_placement(stores, &unpaid).await;
    // Died while compensating a decline.
    let declined = new_order("rec-3", &[(&p, 1)]);
    stores.orders.create_pending(&declined).await.unwrap();
    stores
        .gateway
        .authorize(declined.id, &declined.total, "tok_chargeDeclined")
        .await
        .unwrap();
    orphaned_placement(stores, &declined).await;
    assert_eq!(level(stores, &p).await, (10, 6));

    let recovery = RecoveryService::new(stores.clone());
    // A fresh saga may still be running in another process: left alone.
    let untouched = recovery
        .recover(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(untouched.examined, 0);
    let report = recovery.recover(std::time::Duration::ZERO).await.unwrap();
    assert!(
        report.completed >= 1 && report.compensated >= 2,
        "{report:?}"
    );

    let paid_now = stores.orders.get(paid.id).await.unwrap().unwrap();
    assert_eq!(paid_now.status, OrderStatus::Confirmed, "paid: forward");
    assert_eq!(paid_now.payment.unwrap().status, PaymentStatus::Authorized);
    let unpaid_now = stores.orders.get(unpaid.id).await.unwrap().unwrap();
    assert_eq!(
        unpaid_now.status,
        OrderStatus::Failed,
        "unpaid: compensated"
    );
    let declined_now = stores.orders.get(declined.id).await.unwrap().unwrap();
    assert_eq!(declined_now.status, OrderStatus::Failed);
    assert_eq!(
        declined_now.payment.unwrap().status,
        PaymentStatus::Declined
    );
    assert_eq!(
        level(stores, &p).await,
        (8, 0),
        "2 sold, the rest back in stock"
    );

    // Running recovery again changes nothing.
    let again = recovery.recover(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(again.examined, 0, "{again:?}");
    assert_eq!(level(stores, &p).await, (8, 0));
}

pub async fn recovery_expires_abandoned_reservations(stores: &Stores) {
    let p = stocked(stores, "Abandoned", "5.00", 4).await;
    let mut old = new_order("abandoned", &[(&p, 3)]);
    old.created_at = now() - Duration::minutes(20);
    stores.orders.create_pending(&old).await.unwrap();
    let fresh = new_order("in-flight", &[(&p, 1)]);
    stores.orders.create_pending(&fresh).await.unwrap();
    assert_eq!(available(stores, &p).await, 0);

    let recovery = RecoveryService::new(stores.clone());
    let expired = recovery
        .expire_reservations(std::time::Duration::from_secs(15 * 60))
        .await
        .unwrap();
    assert!(expired >= 1);
    let old_now = stores.orders.get(old.id).await.unwrap().unwrap();
    assert_eq!(old_now.status, OrderStatus::Failed);
    let fresh_now = stores.orders.get(fresh.id).await.unwrap().unwrap();
    assert_eq!(
        fresh_now.status,
        OrderStatus::Pending,
        "young reservations stay"
    );
    assert_eq!(level(stores, &p).await, (4, 1));
}

// ---------------------------------------------------------------------------------------
// Reconciliation: each case writes one inconsistency straight into one store, through the
// ports, and expects `check` to find exactly it, `fix` to repair it (or leave it, saying
// why), and a second `check` to agree.
// ---------------------------------------------------------------------------------------

/// Pages of two, so every case also runs the scans across several pages.
fn reconciler(stores: &Stores) -> ReconciliationService {
    ReconciliationService::new(stores.clone()).with_batch_size(2)
}

/// `(kind, status)` of every finding, sorted, for exact comparisons.
fn outline(report: &ReconciliationReport) -> Vec<(FindingKind, &'static str)> {
    let mut outline: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            let status = match f.resolution {
                Resolution::Repairable { .. } => "repairable",
                Resolution::Repaired { .. } => "repaired",
                Resolution::NeedsHuman { .. } => "needs_human",
                Resolution::Deferred { .. } => "deferred",
                Resolution::RepairFailed { .. } => "repair_failed",
            };
            (f.kind, status)
        })
        .collect();
    outline.sort_by_key(|(kind, status)| (format!("{kind:?}"), *status));
    outline
}

/// The one finding about `sku`.
fn finding_for<'r>(report: &'r ReconciliationReport, sku: &Sku) -> &'r Finding {
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.sku.as_ref() == Some(sku))
        .collect();
    assert_eq!(found.len(), 1, "one finding for {sku}: {report:#?}");
    found[0]
}

/// An authorized payment for `order` with the gateway's reference.
fn authorized(order: &NewOrder, reference: &str) -> Payment {
    let at = now();
    Payment {
        id: PaymentId::new(),
        order_id: order.id,
        status: PaymentStatus::Authorized,
        amount: order.total,
        method: "card".into(),
        gateway_ref: Some(reference.into()),
        decline_reason: None,
        created_at: at,
        updated_at: at,
    }
}

/// Authorizes `order` at the gateway (as the placement saga does) and returns the reference.
async fn gateway_approval(stores: &Stores, order: &NewOrder) -> String {
    match stores
        .gateway
        .authorize(order.id, &order.total, "tok_visa")
        .await
        .unwrap()
    {
        Authorization::Approved { reference } => reference,
        other => panic!("expected an approval, got {other:?}"),
    }
}

/// Every page of a keyset scan, checking that no page repeats what an earlier one held.
async fn all_pages<T, K, F, Fut>(key: impl Fn(&T) -> K, mut page: F) -> Vec<T>
where
    K: Clone + Eq + std::hash::Hash + std::fmt::Debug,
    F: FnMut(Option<K>) -> Fut,
    Fut: Future<Output = Vec<T>>,
{
    let mut seen = std::collections::HashSet::new();
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let items = page(after.clone()).await;
        let Some(last) = items.last() else {
            return all;
        };
        after = Some(key(last));
        for item in items {
            assert!(seen.insert(key(&item)), "{:?} came twice", key(&item));
            all.push(item);
        }
    }
}

pub async fn reconcile_ports_scan_in_pages_and_repair_atomically(stores: &Stores) {
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(stocked(stores, &format!("Scanned {i}"), "2.00", 10).await);
    }
    let mut expected: Vec<(ProductId, Sku)> = made.iter().map(|p| (p.id, p.sku.clone())).collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));

    // Keyset pages of two visit every product and every stock record exactly once.
    let mut skus = all_pages(
        |(_, sku): &(ProductId, Sku)| sku.clone(),
        |after| async move { stores.catalog.skus(after.as_ref(), 2).await.unwrap() },
    )
    .await;
    skus.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(skus, expected);
    let mut levels = all_pages(
        |l: &emporium_domain::model::StockLevel| l.sku.clone(),
        |after| async move { stores.inventory.levels(after.as_ref(), 2).await.unwrap() },
    )
    .await;
    levels.sort_by(|a, b| a.sku.cmp(&b.sku));
    let level_keys: Vec<_> = levels
        .iter()
        .map(|l| (l.product_id, l.sku.clone()))
        .collect();
    assert_eq!(level_keys, expected);
    assert!(stores.catalog.skus(None, 0).await.unwrap().is_empty());
    let ghost = ProductId::new();
    assert_eq!(
        stores.catalog.skus_of(&[made[0].id, ghost]).await.unwrap(),
        vec![(made[0].id, made[0].sku.clone())]
    );

    // repair_reserved sets `reserved` within `on_hand`, nothing else.
    let inv = &stores.inventory;
    let (a, b, c) = (&made[0], &made[1], &made[2]);
    let set = inv
        .repair_reserved(&a.sku, Units::new(3).unwrap())
        .await
        .unwrap();
    assert_eq!((set.on_hand, set.reserved), (10, 3));
    let over = inv.repair_reserved(&a.sku, Units::new(11).unwrap()).await;
    assert!(matches!(over, Err(Error::Conflict(_))), "got {over:?}");
    assert_eq!(
        level(stores, a).await,
        (10, 3),
        "a refused repair changes nothing"
    );
    let missing = unique_sku("NONE");
    assert!(matches!(
        inv.repair_reserved(&missing, Units::ZERO).await,
        Err(Error::NotFound(_))
    ));

    // remove_unreserved refuses while anything is reserved.
    let refused = inv.remove_unreserved(&a.sku).await;
    assert!(
        matches!(refused, Err(Error::Conflict(_))),
        "got {refused:?}"
    );
    assert_eq!(level(stores, a).await, (10, 3));
    inv.repair_reserved(&a.sku, Units::ZERO).await.unwrap();
    assert_eq!(
        inv.remove_unreserved(&a.sku).await.unwrap().unwrap().sku,
        a.sku
    );
    assert!(inv.remove_unreserved(&a.sku).await.unwrap().is_none());
    assert!(inv.stock(&a.sku).await.unwrap().is_none());

    // What pending orders hold: summed per SKU, sales and closed orders not counted.
    let first = new_order("held-1", &[(b, 2), (c, 1)]);
    let second = new_order("held-2", &[(b, 3)]);
    let sold = new_order("held-3", &[(c, 4)]);
    for o in [&first, &second, &sold] {
        stores.orders.create_pending(o).await.unwrap();
    }
    stores.orders.confirm(sold.id).await.unwrap();
    let mut held = stores.orders.reserved_by_pending().await.unwrap();
    held.sort();
    let mut want = vec![(b.sku.clone(), 5), (c.sku.clone(), 1)];
    want.sort();
    assert_eq!(held, want);
    let holding = stores.orders.holding(&b.sku).await.unwrap().unwrap();
    assert_eq!((holding.level.reserved, holding.held), (5, 5));
    assert!(stores.orders.holding(&missing).await.unwrap().is_none());

    // release_leaked lowers a leaked reservation to what orders hold, and never raises one.
    inv.repair_reserved(&b.sku, Units::new(8).unwrap())
        .await
        .unwrap();
    let release = stores.orders.release_leaked(&b.sku).await.unwrap().unwrap();
    assert_eq!((release.found.level.reserved, release.found.held), (8, 5));
    assert_eq!((release.level.reserved, release.released()), (5, 3));
    assert_eq!(level(stores, b).await, (10, 5));
    let again = stores.orders.release_leaked(&b.sku).await.unwrap().unwrap();
    assert_eq!(again.released(), 0, "nothing left to release");
    inv.repair_reserved(&c.sku, Units::ZERO).await.unwrap();
    let short = stores.orders.release_leaked(&c.sku).await.unwrap().unwrap();
    assert_eq!(
        (short.found.held, short.level.reserved),
        (1, 0),
        "never raised"
    );
    inv.repair_reserved(&c.sku, Units::new(1).unwrap())
        .await
        .unwrap();
    assert!(stores
        .orders
        .release_leaked(&missing)
        .await
        .unwrap()
        .is_none());

    // Orders whose payment disagrees with their status, by id, in pages.
    let d = &made[3];
    let unpaid_sale = new_order("pay-1", &[(d, 1)]);
    let paid_failure = new_order("pay-2", &[(d, 1)]);
    let paid_sale = new_order("pay-3", &[(d, 1)]);
    for o in [&unpaid_sale, &paid_failure, &paid_sale] {
        stores.orders.create_pending(o).await.unwrap();
    }
    stores.orders.confirm(unpaid_sale.id).await.unwrap();
    stores.orders.fail(paid_failure.id).await.unwrap();
    stores
        .payments
        .record(&authorized(&paid_failure, "auth_x"))
        .await
        .unwrap();
    stores
        .payments
        .record(&authorized(&paid_sale, "auth_y"))
        .await
        .unwrap();
    stores.orders.confirm(paid_sale.id).await.unwrap();
    let mismatched = all_pages(
        |o: &emporium_domain::model::Order| o.id,
        |after| async move { stores.orders.payment_mismatches(after, 1).await.unwrap() },
    )
    .await;
    let ids: Vec<OrderId> = mismatched.iter().map(|o| o.id).collect();
    // `sold` above was confirmed without a payment too.
    let mut want = vec![sold.id, unpaid_sale.id, paid_failure.id];
    want.sort();
    assert_eq!(ids, want, "ascending by id, only the disagreeing ones");
    let failure = mismatched.iter().find(|o| o.id == paid_failure.id).unwrap();
    assert_eq!(
        failure.payment.as_ref().unwrap().status,
        PaymentStatus::Authorized
    );
}

pub async fn reconcile_finds_nothing_in_consistent_stores(stores: &Stores) {
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(stocked(stores, &format!("Consistent {i}"), "9.00", 10).await);
    }
    let service = OrderService::new(stores.clone());
    service
        .place(OrderId::new(), order_request(&[(&made[0], 2)], "tok_visa"))
        .await
        .unwrap();
    service
        .place(
            OrderId::new(),
            order_request(&[(&made[1], 1)], "tok_chargeDeclined"),
        )
        .await
        .unwrap_err();
    let cancelled = service
        .place(OrderId::new(), order_request(&[(&made[2], 1)], "tok_visa"))
        .await
        .unwrap();
    service.cancel(cancelled.id).await.unwrap();
    stores
        .orders
        .create_pending(&new_order("waiting", &[(&made[3], 4)]))
        .await
        .unwrap();

    let report = reconciler(stores).check().await.unwrap();
    assert!(report.findings.is_empty(), "{report:#?}");
    assert!(report.is_clean());
    assert_eq!(report.mode, Mode::Check);
    assert_eq!(
        (report.scanned.products, report.scanned.stock_records),
        (5, 5)
    );
    assert_eq!(report.scanned.pending_skus, 1);
    let fixed = reconciler(stores).fix().await.unwrap();
    assert!(fixed.findings.is_empty(), "{fixed:#?}");
    assert_eq!(
        level(stores, &made[3]).await,
        (10, 4),
        "fix touched nothing"
    );
}

pub async fn reconcile_creates_missing_stock_records(stores: &Stores) {
    for i in 0..3 {
        stocked(stores, &format!("Stocked {i}"), "4.00", 6).await;
    }
    let lost = product("Never Stocked", "electronics", "4.00");
    stores.catalog.insert(&lost).await.unwrap();

    let report = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&report),
        [(FindingKind::CatalogWithoutStock, "repairable")],
        "{report:#?}"
    );
    let finding = finding_for(&report, &lost.sku);
    assert_eq!(finding.product_id, Some(lost.id));
    assert!(!report.is_clean());
    assert!(
        stores.inventory.stock(&lost.sku).await.unwrap().is_none(),
        "a check changes nothing"
    );

    let fixed = reconciler(stores).fix().await.unwrap();
    assert_eq!(
        outline(&fixed),
        [(FindingKind::CatalogWithoutStock, "repaired")]
    );
    assert!(fixed.is_clean());
    let created = stores.inventory.stock(&lost.sku).await.unwrap().unwrap();
    assert_eq!(
        (created.product_id, created.on_hand, created.reserved),
        (lost.id, 0, 0)
    );
    let again = reconciler(stores).check().await.unwrap();
    assert!(again.findings.is_empty(), "{again:#?}");
}

pub async fn reconcile_removes_orphan_stock_only_when_unreserved(stores: &Stores) {
    let kept = stocked(stores, "Kept", "1.00", 3).await;
    // Two stock records whose products were never in the catalog; pending orders hold
    // units of the second.
    let idle = product("Idle Ghost", "electronics", "1.00");
    let held = product("Held Ghost", "electronics", "1.00");
    for ghost in [&idle, &held] {
        stores
            .inventory
            .create_stock(&ghost.sku, ghost.id, Units::new(5).unwrap())
            .await
            .unwrap();
    }
    stores
        .orders
        .create_pending(&new_order("ghost-buyer", &[(&held, 2)]))
        .await
        .unwrap();

    let report = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&report),
        [
            (FindingKind::StockWithoutCatalog, "needs_human"),
            (FindingKind::StockWithoutCatalog, "repairable"),
        ],
        "{report:#?}"
    );
    assert!(matches!(
        finding_for(&report, &held.sku).resolution,
        Resolution::NeedsHuman { .. }
    ));
    assert_eq!(finding_for(&report, &idle.sku).product_id, Some(idle.id));

    let fixed = reconciler(stores).fix().await.unwrap();
    assert!(matches!(
        finding_for(&fixed, &idle.sku).resolution,
        Resolution::Repaired { .. }
    ));
    assert!(matches!(
        finding_for(&fixed, &held.sku).resolution,
        Resolution::NeedsHuman { .. }
    ));
    assert!(!fixed.is_clean(), "the held record is left for a human");
    assert_eq!(fixed.summary.remaining, 1);
    assert!(stores.inventory.stock(&idle.sku).await.unwrap().is_none());
    assert_eq!(
        stores
            .inventory
            .stock(&held.sku)
            .await
            .unwrap()
            .unwrap()
            .reserved,
        2
    );
    assert_eq!(level(stores, &kept).await, (3, 0));
    let again = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&again),
        [(FindingKind::StockWithoutCatalog, "needs_human")]
    );
}

pub async fn reconcile_releases_leaked_reservations_and_reports_missing_ones(stores: &Stores) {
    let leaky = stocked(stores, "Leaky", "3.00", 10).await;
    let short = stocked(stores, "Short", "3.00", 10).await;
    stocked(stores, "Bystander", "3.00", 10).await;
    let holding = new_order("leak-1", &[(&leaky, 2)]);
    stores.orders.create_pending(&holding).await.unwrap();
    stores
        .orders
        .create_pending(&new_order("short-1", &[(&short, 3)]))
        .await
        .unwrap();
    // Three units reserved that no order will ever release; two units held unreserved.
    stores
        .inventory
        .repair_reserved(&leaky.sku, Units::new(5).unwrap())
        .await
        .unwrap();
    stores
        .inventory
        .repair_reserved(&short.sku, Units::new(1).unwrap())
        .await
        .unwrap();

    let report = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&report),
        [
            (FindingKind::LeakedReservation, "repairable"),
            (FindingKind::MissingReservation, "needs_human"),
        ],
        "{report:#?}"
    );
    let leak = finding_for(&report, &leaky.sku);
    assert_eq!(leak.expected, "reserved 2 (the units pending orders hold)");
    assert_eq!(leak.actual, "reserved 5");
    assert_eq!(finding_for(&report, &short.sku).actual, "reserved 1");
    assert_eq!(
        level(stores, &leaky).await,
        (10, 5),
        "a check changes nothing"
    );

    let fixed = reconciler(stores).fix().await.unwrap();
    assert_eq!(
        outline(&fixed),
        [
            (FindingKind::LeakedReservation, "repaired"),
            (FindingKind::MissingReservation, "needs_human"),
        ]
    );
    assert_eq!(
        level(stores, &leaky).await,
        (10, 2),
        "exactly the leak released"
    );
    assert_eq!(
        level(stores, &short).await,
        (10, 1),
        "never raised by a program"
    );
    let again = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&again),
        [(FindingKind::MissingReservation, "needs_human")]
    );
    // The order that holds units still sells them.
    stores.orders.confirm(holding.id).await.unwrap();
    assert_eq!(level(stores, &leaky).await, (8, 0));
}

pub async fn reconcile_voids_authorizations_of_closed_orders(stores: &Stores) {
    let p = stocked(stores, "Refused", "12.00", 5).await;
    let failed = new_order("void-1", &[(&p, 1)]);
    stores.orders.create_pending(&failed).await.unwrap();
    stores.orders.fail(failed.id).await.unwrap();
    // The money is held for an order that will never ship.
    let reference = gateway_approval(stores, &failed).await;
    stores
        .payments
        .record(&authorized(&failed, &reference))
        .await
        .unwrap();

    let report = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&report),
        [(FindingKind::AuthorizedPaymentOnClosedOrder, "repairable")],
        "{report:#?}"
    );
    assert_eq!(report.findings[0].order_id, Some(failed.id));
    assert_eq!(
        report.findings[0].actual,
        "order failed, payment authorized"
    );

    let fixed = reconciler(stores).fix().await.unwrap();
    assert_eq!(
        outline(&fixed),
        [(FindingKind::AuthorizedPaymentOnClosedOrder, "repaired")]
    );
    let payment = stores.payments.for_order(failed.id).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::Voided);
    assert_eq!(payment.gateway_ref.as_deref(), Some(reference.as_str()));
    let again = reconciler(stores).check().await.unwrap();
    assert!(again.findings.is_empty(), "{again:#?}");
}

pub async fn reconcile_records_lost_authorizations_of_sales_and_reports_unpaid_ones(
    stores: &Stores,
) {
    let p = stocked(stores, "Sold", "20.00", 5).await;
    // Authorized at the gateway, but the payment record was lost.
    let lost = new_order("sale-1", &[(&p, 1)]);
    // Never authorized at all.
    let unpaid = new_order("sale-2", &[(&p, 1)]);
    for o in [&lost, &unpaid] {
        stores.orders.create_pending(o).await.unwrap();
        stores.orders.confirm(o.id).await.unwrap();
    }
    let reference = gateway_approval(stores, &lost).await;

    let report = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&report),
        [
            (FindingKind::SaleWithoutPayment, "needs_human"),
            (FindingKind::SaleWithoutPayment, "repairable"),
        ],
        "{report:#?}"
    );
    let fixed = reconciler(stores).fix().await.unwrap();
    let status_of = |id: OrderId| {
        fixed
            .findings
            .iter()
            .find(|f| f.order_id == Some(id))
            .map(|f| f.resolution.clone())
    };
    assert!(matches!(
        status_of(lost.id),
        Some(Resolution::Repaired { .. })
    ));
    assert!(matches!(
        status_of(unpaid.id),
        Some(Resolution::NeedsHuman { .. })
    ));
    let recorded = stores.payments.for_order(lost.id).await.unwrap().unwrap();
    assert_eq!(recorded.status, PaymentStatus::Authorized);
    assert_eq!(recorded.gateway_ref, Some(reference));
    assert_eq!(recorded.amount, lost.total);
    assert!(stores
        .payments
        .for_order(unpaid.id)
        .await
        .unwrap()
        .is_none());
    let again = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&again),
        [(FindingKind::SaleWithoutPayment, "needs_human")]
    );
}

pub async fn reconcile_defers_what_sagas_and_recovery_own(stores: &Stores) {
    // A product whose creation saga is still between its two writes.
    let creating = product("Being Created", "electronics", "7.00");
    let at = now();
    stores
        .saga_log
        .save(&SagaRecord {
            id: SagaId::new(),
            kind: SagaKind::CreateProduct,
            subject: creating.id.as_uuid(),
            state: SagaState::Running,
            payload: json!({"sku": creating.sku.as_str(), "stock": 3}),
            entries: vec![],
            started_at: at,
            updated_at: at,
        })
        .await
        .unwrap();
    stores.catalog.insert(&creating).await.unwrap();
    // A pending order that was authorized and then abandoned: recovery confirms it.
    let p = stocked(stores, "Awaiting", "7.00", 5).await;
    let paid = new_order("deferred-1", &[(&p, 1)]);
    stores.orders.create_pending(&paid).await.unwrap();
    let reference = gateway_approval(stores, &paid).await;
    stores
        .payments
        .record(&authorized(&paid, &reference))
        .await
        .unwrap();

    let report = reconciler(stores).check().await.unwrap();
    assert_eq!(
        outline(&report),
        [
            (FindingKind::CatalogWithoutStock, "deferred"),
            (FindingKind::PendingOrderWithPayment, "deferred"),
        ],
        "{report:#?}"
    );
    assert!(report.is_clean(), "deferred findings need nobody");
    assert_eq!(report.summary.deferred, 2);
    let fixed = reconciler(stores).fix().await.unwrap();
    assert_eq!(fixed.summary.deferred, 2, "{fixed:#?}");
    assert!(
        stores
            .inventory
            .stock(&creating.sku)
            .await
            .unwrap()
            .is_none(),
        "the saga's own stock creation must not conflict with a repair"
    );
    let order = stores.orders.get(paid.id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Pending);
}

pub async fn reconcile_repairs_never_erase_live_reservations(stores: &Stores) {
    let hot = stocked(stores, "Hot Item", "1.00", 10_000).await;
    // A leak for the repairs to find while orders keep reserving, selling and releasing
    // the same SKU.
    stores
        .inventory
        .repair_reserved(&hot.sku, Units::new(500).unwrap())
        .await
        .unwrap();
    let traffic: Vec<_> = (0..4)
        .map(|t| {
            let (stores, hot) = (stores.clone(), hot.clone());
            tokio::spawn(async move {
                for i in 0..25 {
                    let order = new_order(&format!("live-{t}"), &[(&hot, 2)]);
                    stores.orders.create_pending(&order).await.unwrap();
                    match i % 3 {
                        0 => {
                            let payment = authorized(&order, "auth_live");
                            stores.payments.record(&payment).await.unwrap();
                            stores.orders.confirm(order.id).await.unwrap();
                        }
                        1 => drop(stores.orders.fail(order.id).await.unwrap()),
                        _ => {} // stays pending, holding its units
                    }
                }
            })
        })
        .collect();
    let repairs = {
        let stores = stores.clone();
        tokio::spawn(async move {
            for _ in 0..10 {
                let report = reconciler(&stores).fix().await.unwrap();
                // Only the planted leak is seen; an order caught between its payment and
                // its confirmation (no saga logs these) is left to recovery.
                for finding in &report.findings {
                    assert!(
                        finding.kind == FindingKind::LeakedReservation
                            || matches!(finding.resolution, Resolution::Deferred { .. }),
                        "{report:#?}"
                    );
                }
            }
        })
    };
    for task in traffic {
        task.await.unwrap();
    }
    repairs.await.unwrap();

    let holding = stores.orders.holding(&hot.sku).await.unwrap().unwrap();
    assert!(
        u64::from(holding.level.reserved) >= holding.held,
        "a repair erased a live reservation: {holding:?}"
    );
    reconciler(stores).fix().await.unwrap();
    let holding = stores.orders.holding(&hot.sku).await.unwrap().unwrap();
    // 4 tasks leave 8 of their 25 orders pending, 2 units each.
    assert_eq!((holding.level.reserved, holding.held), (64, 64));
    let clean = reconciler(stores).check().await.unwrap();
    assert!(clean.findings.is_empty(), "{clean:#?}");
}
