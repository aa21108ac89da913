//! PgLedger against a real PostgreSQL server: one fresh database per test (see
//! `emporium_testkit::harness::postgres`). Start the local server with
//! `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.
//!
//! These tests cover what only PostgreSQL can get wrong: concurrency, locking, constraints,
//! timeouts and the SQL itself. The adapter-agnostic behaviour of the ports is checked by
//! the shared contract suite (`tests/contract.rs`).

use anyhow::Result;
use chrono::{Duration as Days, TimeZone, Utc};
use emporium_domain::model::{
    Category, Currency, CustomerId, Money, Name, NewOrder, OrderId, OrderItem, OrderQuery,
    OrderStatus, PageRequest, Payment, PaymentId, PaymentStatus, ProductId, Quantity, SagaEntry,
    SagaId, SagaKind, SagaRecord, SagaState, Sku, StepOutcome, Timestamp, Units,
};
use emporium_domain::ports::{Inventory, Orders, Payments, SagaLog};
use emporium_domain::{model::now, Error};
use emporium_postgres::{LockingStrategy, PgLedger, PgOptions, MIGRATOR};
use emporium_testkit::harness::postgres::TestPostgres;
use futures::future::join_all;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A migrated ledger on a fresh database (dropped with the returned guard).
async fn ledger() -> Result<(PgLedger, TestPostgres)> {
    ledger_with(PgOptions::default()).await
}

async fn ledger_with(opts: PgOptions) -> Result<(PgLedger, TestPostgres)> {
    let db = migrated_database().await?;
    let ledger = PgLedger::connect(&db.url, opts).await?;
    Ok((ledger, db))
}

/// A fresh database with every migration applied, cloned from a template built once.
async fn migrated_database() -> anyhow::Result<TestPostgres> {
    TestPostgres::from_template(&emporium_postgres::migrations_digest(), |url| async move {
        Ok(emporium_postgres::migrate_database(&url).await?)
    })
    .await
}

/// A product with a stock record.
#[derive(Debug, Clone)]
struct Stocked {
    id: ProductId,
    sku: Sku,
}

async fn stocked(ledger: &PgLedger, sku: &str, on_hand: u32) -> Result<Stocked> {
    let product = Stocked {
        id: ProductId::new(),
        sku: Sku::parse(sku).map_err(anyhow::Error::msg)?,
    };
    ledger
        .create_stock(
            &product.sku,
            product.id,
            Units::new(on_hand).map_err(anyhow::Error::msg)?,
        )
        .await?;
    Ok(product)
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).expect("valid amount")
}

fn line(product: &Stocked, quantity: i64) -> OrderItem {
    let unit_price = usd("2.50");
    OrderItem {
        product_id: product.id,
        sku: product.sku.clone(),
        name: Name::parse(format!("Product {}", product.sku)).expect("valid name"),
        category: Category::parse("tests").expect("valid category"),
        supplier_id: None,
        quantity: Quantity::new(quantity).expect("valid quantity"),
        unit_price,
        line_total: unit_price.times(quantity as u32).expect("no overflow"),
    }
}

fn order_of(customer: &str, items: Vec<OrderItem>) -> NewOrder {
    order_at(customer, items, now())
}

fn order_at(customer: &str, items: Vec<OrderItem>, created_at: Timestamp) -> NewOrder {
    let total = items
        .iter()
        .try_fold(usd("0"), |sum, item| sum.plus(&item.line_total))
        .expect("no overflow");
    NewOrder {
        id: OrderId::new(),
        customer_id: CustomerId::parse(customer).expect("valid customer"),
        customer_name: Some(Name::parse("Ada Lovelace").expect("valid name")),
        items,
        total,
        created_at,
    }
}

/// `(on_hand, reserved)` of a product.
async fn levels(ledger: &PgLedger, product: &Stocked) -> Result<(u32, u32)> {
    let level = ledger
        .stock(&product.sku)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no stock record for {}", product.sku))?;
    Ok((level.on_hand, level.reserved))
}

async fn count(ledger: &PgLedger, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(ledger.pool()).await?)
}

fn payment(order: OrderId, status: PaymentStatus, at: Timestamp) -> Payment {
    Payment {
        id: PaymentId::new(),
        order_id: order,
        status,
        amount: usd("5.00"),
        method: "card".into(),
        gateway_ref: Some("auth_1".into()),
        decline_reason: None,
        created_at: at,
        updated_at: at,
    }
}

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn migrations_apply_and_are_idempotent() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    ledger.migrate().await?;
    let applied = count(
        &ledger,
        "SELECT count(*) FROM _sqlx_migrations WHERE success",
    )
    .await?;
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
    for table in [
        "inventory",
        "orders",
        "order_items",
        "payments",
        "saga_log",
        "outbox",
        "idempotency_keys",
    ] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(ledger.pool())
            .await?;
        assert!(exists, "table {table} is missing");
    }
    ledger.ping().await?;
    Ok(())
}

#[tokio::test]
async fn money_columns_are_numeric_never_float() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name || '.' || column_name, data_type || '(' || numeric_precision || ',' || numeric_scale || ')' \
           FROM information_schema.columns \
          WHERE table_schema = 'public' \
            AND column_name IN ('total', 'unit_price', 'line_total', 'amount')",
    )
    .fetch_all(ledger.pool())
    .await?;
    assert_eq!(types.len(), 4, "{types:?}");
    for (column, ty) in types {
        assert_eq!(ty, "numeric(12,2)", "{column}");
    }
    Ok(())
}

#[tokio::test]
async fn check_constraint_refuses_reserved_above_on_hand() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 3).await?;
    let err = sqlx::query("UPDATE inventory SET reserved = on_hand + 1 WHERE sku = $1")
        .bind(a.sku.as_str())
        .execute(ledger.pool())
        .await
        .expect_err("the CHECK constraint must refuse it");
    let db_err = err.as_database_error().expect("a database error");
    assert_eq!(db_err.code().as_deref(), Some("23514"));
    assert_eq!(
        db_err.constraint(),
        Some("inventory_reserved_within_on_hand")
    );
    let negative = sqlx::query("UPDATE inventory SET on_hand = -1 WHERE sku = $1")
        .bind(a.sku.as_str())
        .execute(ledger.pool())
        .await;
    assert!(negative.is_err());
    assert_eq!(levels(&ledger, &a).await?, (3, 0));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stock_records_are_created_once_and_set_around_reservations() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let again = ledger
        .create_stock(&a.sku, ProductId::new(), Units::new(1).unwrap())
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let same_product = ledger
        .create_stock(&Sku::parse("A2").unwrap(), a.id, Units::new(1).unwrap())
        .await;
    assert!(
        matches!(same_product, Err(Error::Conflict(_))),
        "{same_product:?}"
    );

    ledger
        .create_pending(&order_of("c1", vec![line(&a, 4)]))
        .await?;
    let level = ledger.set_available(&a.sku, Units::new(7).unwrap()).await?;
    assert_eq!(
        (level.on_hand, level.reserved, level.available()),
        (11, 4, 7)
    );

    let missing = Sku::parse("nope").unwrap();
    assert!(matches!(
        ledger.set_available(&missing, Units::ZERO).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(ledger.stock(&missing).await?, None);
    assert_eq!(
        ledger
            .stock_many(&[a.sku.clone(), missing.clone()])
            .await?
            .len(),
        1
    );
    assert!(ledger.stock_many(&[]).await?.is_empty());

    assert_eq!(
        ledger.remove_stock(&a.sku).await?.map(|l| l.on_hand),
        Some(11)
    );
    assert_eq!(ledger.remove_stock(&a.sku).await?, None);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reservations
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn short_basket_names_every_short_line_and_changes_nothing() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 5).await?;
    let b = stocked(&ledger, "B", 1).await?;
    let unstocked = Stocked {
        id: ProductId::new(),
        sku: Sku::parse("C").unwrap(),
    };
    let outbox_before = count(&ledger, "SELECT count(*) FROM outbox").await?;

    let order = order_of("c1", vec![line(&a, 3), line(&b, 2), line(&unstocked, 1)]);
    let Err(Error::InsufficientStock(short)) = ledger.create_pending(&order).await else {
        panic!("expected InsufficientStock");
    };
    let mut short: Vec<_> = short
        .iter()
        .map(|s| (s.product_id, s.requested, s.available))
        .collect();
    short.sort();
    let mut expected = vec![(b.id, 2, 1), (unstocked.id, 1, 0)];
    expected.sort();
    assert_eq!(short, expected);

    assert_eq!(levels(&ledger, &a).await?, (5, 0));
    assert_eq!(levels(&ledger, &b).await?, (1, 0));
    assert_eq!(Orders::get(&ledger, order.id).await?, None);
    assert_eq!(count(&ledger, "SELECT count(*) FROM order_items").await?, 0);
    assert_eq!(
        count(&ledger, "SELECT count(*) FROM outbox").await?,
        outbox_before
    );
    Ok(())
}

#[tokio::test]
async fn create_pending_reserves_stores_and_writes_the_outbox() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 5).await?;
    let b = stocked(&ledger, "B", 5).await?;
    let new = order_of("c1", vec![line(&b, 2), line(&a, 1)]);

    let order = ledger.create_pending(&new).await?;
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(Orders::get(&ledger, new.id).await?, Some(order.clone()));
    let skus: Vec<_> = order.items.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(skus, ["B", "A"], "lines keep their order");
    assert_eq!(levels(&ledger, &a).await?, (5, 1));
    assert_eq!(levels(&ledger, &b).await?, (5, 2));

    let events: Vec<(String, uuid::Uuid)> = sqlx::query_as(
        "SELECT event_type, aggregate_id FROM outbox \
          WHERE created_at >= $1 ORDER BY id",
    )
    .bind(new.created_at)
    .fetch_all(ledger.pool())
    .await?;
    assert!(events.contains(&("order.created".into(), new.id.as_uuid())));
    assert!(events.contains(&("stock.changed".into(), a.id.as_uuid())));
    assert!(events.contains(&("stock.changed".into(), b.id.as_uuid())));
    Ok(())
}

#[tokio::test]
async fn create_pending_is_idempotent_even_when_repeated_concurrently() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 3)]);
    let first = ledger.create_pending(&new).await?;

    let repeats = join_all((0..8).map(|_| ledger.create_pending(&new))).await;
    for repeat in repeats {
        assert_eq!(repeat?, first);
    }
    assert_eq!(levels(&ledger, &a).await?, (10, 3));

    // A repeat after the order moved on returns it as it is, without reserving again.
    ledger.confirm(new.id).await?;
    assert_eq!(
        ledger.create_pending(&new).await?.status,
        OrderStatus::Confirmed
    );
    assert_eq!(levels(&ledger, &a).await?, (7, 0));

    let racing = order_of("c2", vec![line(&a, 1)]);
    let results = join_all((0..8).map(|_| ledger.create_pending(&racing))).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(levels(&ledger, &a).await?, (7, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_buyers_for_ten_units_reserve_exactly_ten() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let tasks = (0..40).map(|i| {
        let ledger = ledger.clone();
        let order = order_of(&format!("buyer-{i}"), vec![line(&a, 1)]);
        tokio::spawn(async move { ledger.create_pending(&order).await })
    });
    let results = join_all(tasks).await;

    let mut reserved = 0;
    for result in results {
        match result? {
            Ok(_) => reserved += 1,
            Err(Error::InsufficientStock(short)) => {
                assert_eq!((short.len(), short[0].available), (1, 0))
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(reserved, 10);
    assert_eq!(levels(&ledger, &a).await?, (10, 10));
    assert_eq!(count(&ledger, "SELECT count(*) FROM orders").await?, 10);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossed_baskets_finish_without_deadlock() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 1000).await?;
    let b = stocked(&ledger, "B", 1000).await?;
    let started = Instant::now();
    let tasks = (0..100).map(|i| {
        let ledger = ledger.clone();
        let lines = if i % 2 == 0 {
            vec![line(&a, 1), line(&b, 1)]
        } else {
            vec![line(&b, 1), line(&a, 1)]
        };
        let order = order_of(&format!("crossed-{i}"), lines);
        tokio::spawn(async move {
            let placed = ledger.create_pending(&order).await?;
            // Moves lock the same rows again, in the same order.
            if i % 4 == 0 {
                ledger.cancel(placed.id).await?;
            }
            Ok::<_, Error>(())
        })
    });
    for result in join_all(tasks).await {
        result??;
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(levels(&ledger, &a).await?, (1000, 75));
    assert_eq!(levels(&ledger, &b).await?, (1000, 75));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn optimistic_locking_never_oversells() -> Result<()> {
    let (ledger, _db) = ledger_with(PgOptions {
        locking: LockingStrategy::Optimistic,
        ..PgOptions::default()
    })
    .await?;
    assert_eq!(ledger.locking(), LockingStrategy::Optimistic);
    let a = stocked(&ledger, "A", 10).await?;
    let b = stocked(&ledger, "B", 100).await?;

    // Uncontended, it behaves like the pessimistic strategy.
    let first = ledger
        .create_pending(&order_of("c0", vec![line(&b, 2), line(&a, 1)]))
        .await?;
    assert_eq!(levels(&ledger, &a).await?, (10, 1));
    assert!(matches!(
        ledger
            .create_pending(&order_of("c0", vec![line(&a, 10)]))
            .await,
        Err(Error::InsufficientStock(_))
    ));
    ledger.fail(first.id).await?;

    let tasks = (0..40).map(|i| {
        let ledger = ledger.clone();
        let lines = if i % 2 == 0 {
            vec![line(&a, 1), line(&b, 1)]
        } else {
            vec![line(&b, 1), line(&a, 1)]
        };
        let order = order_of(&format!("buyer-{i}"), lines);
        tokio::spawn(async move { ledger.create_pending(&order).await })
    });
    let mut placed = 0;
    for result in join_all(tasks).await {
        match result? {
            Ok(_) => placed += 1,
            // Contention is retried (then locked), never reported.
            Err(Error::InsufficientStock(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(placed, 10);
    assert_eq!(levels(&ledger, &a).await?, (10, 10));
    assert_eq!(levels(&ledger, &b).await?, (100, 10));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Status changes
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn list_filters_pages_and_counts() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 100).await?;
    let b = stocked(&ledger, "B", 100).await?;
    let day = |d: i64| Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + Days::days(d);

    let mut ids = Vec::new();
    for d in 0..6 {
        let customer = if d % 2 == 0 { "even" } else { "odd" };
        let lines = if d < 3 {
            vec![line(&a, 1)]
        } else {
            vec![line(&a, 1), line(&b, 1)]
        };
        let new = order_at(customer, lines, day(d));
        ledger.create_pending(&new).await?;
        ids.push(new.id);
    }
    ledger.confirm(ids[1]).await?;
    ledger
        .record(&payment(ids[1], PaymentStatus::Authorized, now()))
        .await?;

    let list = |q: OrderQuery| {
        let ledger = ledger.clone();
        async move {
            let page = ledger.list(&q).await?;
            Ok::<_, Error>((
                page.total,
                page.items.iter().map(|o| o.id).collect::<Vec<_>>(),
            ))
        }
    };

    assert_eq!(list(OrderQuery::default()).await?, (6, ids.clone()));
    let (total, page) = list(OrderQuery {
        page: PageRequest {
            limit: 2,
            offset: 3,
        },
        ..Default::default()
    })
    .await?;
    assert_eq!((total, page), (6, ids[3..5].to_vec()));
    assert_eq!(
        list(OrderQuery {
            status: Some(OrderStatus::Confirmed),
            ..Default::default()
        })
        .await?,
        (1, vec![ids[1]])
    );
    assert_eq!(
        list(OrderQuery {
            customer_id: Some("even".into()),
            ..Default::default()
        })
        .await?,
        (3, vec![ids[0], ids[2], ids[4]])
    );
    assert_eq!(
        list(OrderQuery {
            product_id: Some(b.id),
            ..Default::default()
        })
        .await?,
        (3, ids[3..].to_vec())
    );
    assert_eq!(
        list(OrderQuery {
            from: Some(day(2)),
            to: Some(day(4)),
            ..Default::default()
        })
        .await?,
        (2, ids[2..4].to_vec()),
        "from is inclusive, to exclusive"
    );
    let (total, page) = list(OrderQuery {
        page: PageRequest {
            limit: 5,
            offset: 100,
        },
        ..Default::default()
    })
    .await?;
    assert_eq!((total, page.len()), (6, 0));

    let page = ledger.list(&OrderQuery::default()).await?;
    assert_eq!(
        page.items[1].payment.as_ref().map(|p| p.status),
        Some(PaymentStatus::Authorized)
    );
    assert!(page.items[0].payment.is_none());
    assert_eq!(page.items[4].items.len(), 2);
    assert_eq!(
        Orders::get(&ledger, ids[1]).await?.as_ref(),
        Some(&page.items[1])
    );
    Ok(())
}

#[tokio::test]
async fn list_ties_on_created_at_break_by_id() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 100).await?;
    let at = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let new = order_at(&format!("c{i}"), vec![line(&a, 1)], at);
        ledger.create_pending(&new).await?;
        ids.push(new.id);
    }
    ids.sort();
    let listed: Vec<_> = ledger
        .list(&OrderQuery::default())
        .await?
        .items
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(listed, ids);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Payments and saga log
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn payments_are_replaced_keeping_the_first_id_and_created_at() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 1)]);
    ledger.create_pending(&new).await?;

    let first = ledger
        .record(&payment(new.id, PaymentStatus::Authorized, now()))
        .await?;
    let later = now() + Days::seconds(5);
    let second = ledger
        .record(&payment(new.id, PaymentStatus::Voided, later))
        .await?;
    assert_eq!(second.id, first.id);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.status, PaymentStatus::Voided);
    assert_eq!(second.updated_at, later);
    assert_eq!(ledger.for_order(new.id).await?, Some(second));
    assert_eq!(ledger.for_order(OrderId::new()).await?, None);
    Ok(())
}

#[tokio::test]
async fn saga_log_saves_whole_records_and_lists_by_state() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let saga = |started: Timestamp| SagaRecord {
        id: SagaId::new(),
        kind: SagaKind::PlaceOrder,
        subject: uuid::Uuid::now_v7(),
        state: SagaState::Running,
        payload: serde_json::json!({"payment_method": "card"}),
        entries: Vec::new(),
        started_at: started,
        updated_at: started,
    };
    let mut older = saga(now() - Days::seconds(10));
    let mut newer = saga(now());
    ledger.save(&newer).await?;
    ledger.save(&older).await?;
    ledger.save(&older).await?; // idempotent

    let entry = |step: &str, outcome| SagaEntry {
        step: step.into(),
        outcome,
        detail: Some("because".into()),
        at: now(),
    };
    let done = entry("reserve_stock", StepOutcome::Succeeded);
    let failed = entry("authorize_payment", StepOutcome::Failed);
    older.push(done.clone(), SagaState::Running);
    older.push(failed.clone(), SagaState::Compensating);
    // A later save keeps the first start, whatever the record says.
    let first_start = older.started_at;
    older.started_at = now();
    ledger.save(&older).await?;

    let stored = SagaLog::get(&ledger, older.id).await?.expect("stored");
    assert_eq!(stored.entries, vec![done, failed]);
    assert_eq!(stored.state, SagaState::Compensating);
    assert_eq!(stored.payload, older.payload);
    assert_eq!(stored.started_at, first_start);
    assert_eq!(SagaLog::get(&ledger, SagaId::new()).await?, None);

    newer.push(
        entry("reserve_stock", StepOutcome::Failed),
        SagaState::Compensating,
    );
    ledger.save(&newer).await?;
    let compensating: Vec<_> = ledger
        .in_state(SagaState::Compensating, 10)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(compensating, vec![older.id, newer.id], "oldest first");
    assert_eq!(ledger.in_state(SagaState::Compensating, 1).await?.len(), 1);
    assert!(ledger.in_state(SagaState::Running, 10).await?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Failure modes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_timeout() -> Result<()> {
    let started = Instant::now();
    let result = PgLedger::connect(
        "postgres://postgres@127.0.0.1:1/postgres",
        PgOptions {
            acquire_timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(500),
            ..PgOptions::default()
        },
    )
    .await;
    assert!(
        matches!(result, Err(Error::Unavailable(ref s)) if s == "postgres"),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test]
async fn a_closed_pool_is_unavailable() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    ledger.pool().close().await;
    assert!(matches!(ledger.ping().await, Err(Error::Unavailable(_))));
    assert!(matches!(
        ledger.stock(&Sku::parse("A").unwrap()).await,
        Err(Error::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn a_lock_held_too_long_is_unavailable_not_a_hang() -> Result<()> {
    let (ledger, db) = ledger_with(PgOptions {
        lock_timeout: Duration::from_millis(200),
        ..PgOptions::default()
    })
    .await?;
    let a = stocked(&ledger, "A", 10).await?;

    // Another client holds the stock row.
    let other = PgLedger::connect(&db.url, PgOptions::default()).await?;
    let mut holder = other.pool().begin().await?;
    sqlx::query("SELECT 1 FROM inventory WHERE sku = 'A' FOR UPDATE")
        .execute(&mut *holder)
        .await?;

    let started = Instant::now();
    let result = ledger
        .create_pending(&order_of("c1", vec![line(&a, 1)]))
        .await;
    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    holder.rollback().await?;
    assert_eq!(levels(&ledger, &a).await?, (10, 0), "nothing changed");
    assert_eq!(count(&ledger, "SELECT count(*) FROM orders").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_statement_over_the_timeout_is_unavailable() -> Result<()> {
    let (ledger, _db) = ledger_with(PgOptions {
        statement_timeout: Duration::from_millis(300),
        lock_timeout: Duration::from_millis(100),
        ..PgOptions::default()
    })
    .await?;
    let a = stocked(&ledger, "A", 10).await?;
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(ledger.pool())
        .await?;
    assert_eq!(timeout, "300ms", "the setting reaches pooled connections");

    // Make every stock update slow.
    sqlx::raw_sql(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$; \
         CREATE TRIGGER slow BEFORE UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION slow();",
    )
    .execute(ledger.pool())
    .await?;

    let started = Instant::now();
    let result = ledger.set_available(&a.sku, Units::new(5).unwrap()).await;
    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(levels(&ledger, &a).await?, (10, 0));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Event feed wake-ups
// ---------------------------------------------------------------------------------------

/// A server's own writes (`FeedWakeup::InProcess`) send no `NOTIFY` (which would serialise
/// their commits) yet wake its relay at once; a writer outside (psql) still notifies.
#[tokio::test]
async fn own_writes_wake_the_relay_in_process_and_send_no_notify() -> Result<()> {
    use emporium_domain::ports::EventLog;
    use emporium_postgres::FeedWakeup;
    let (ledger, db) = ledger_with(PgOptions {
        feed_wakeup: FeedWakeup::InProcess,
        ..PgOptions::default()
    })
    .await?;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await?;
    listener.listen("emporium_outbox").await?;
    // The relay waits first (opening its own listener), then a write lands.
    let waiting = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            ledger.wait(Duration::from_secs(10)).await;
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let product = stocked(&ledger, "WAKE-1", 5).await?;
    let woke_after = waiting.await?;
    assert!(
        woke_after < Duration::from_secs(2),
        "woke after {woke_after:?}"
    );
    assert_eq!(count(&ledger, "SELECT count(*) FROM outbox").await?, 1);
    let notified = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(notified.is_err(), "an own write sent NOTIFY: {notified:?}");

    // psql's connection has no `emporium.writer`: it notifies.
    let mut psql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await?;
    sqlx::query("UPDATE inventory SET on_hand = 9 WHERE product_id = $1")
        .bind(product.id.as_uuid())
        .execute(&mut psql)
        .await?;
    let notified = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert!(
        matches!(notified, Ok(Ok(_))),
        "a psql write did not notify: {notified:?}"
    );
    Ok(())
}
