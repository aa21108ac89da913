//! Reservations.

use super::*;

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

#[tokio::test]
async fn stock_written_to_the_totals_alone_lands_in_the_default_warehouse() -> Result<()> {
    // An operator's hand-written `UPDATE inventory` leaves the warehouse rows behind; the
    // next order allocates after the default warehouse absorbs the difference (ADR 0022).
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 2).await?;
    sqlx::query("UPDATE inventory SET on_hand = on_hand + 5 WHERE sku = $1")
        .bind(a.sku.as_str())
        .execute(ledger.pool())
        .await?;
    let order = order_of("c1", vec![line(&a, 6)]);
    ledger.create_pending(&order).await?;
    assert_eq!(levels(&ledger, &a).await?, (7, 6));
    let (on_hand, reserved): (i64, i64) = sqlx::query_as(
        "SELECT sum(on_hand)::int8, sum(reserved)::int8 FROM warehouse_stock WHERE sku = $1",
    )
    .bind(a.sku.as_str())
    .fetch_one(ledger.pool())
    .await?;
    assert_eq!(
        (on_hand, reserved),
        (7, 6),
        "the warehouses add up to the total"
    );
    let allocated: i64 =
        sqlx::query_scalar("SELECT sum(quantity)::int8 FROM order_allocations WHERE order_id = $1")
            .bind(order.id.as_uuid())
            .fetch_one(ledger.pool())
            .await?;
    assert_eq!(allocated, 6);

    // A basket the total cannot cover is refused and allocates nothing.
    let too_big = order_of("c2", vec![line(&a, 2)]);
    assert!(matches!(
        ledger.create_pending(&too_big).await,
        Err(Error::InsufficientStock(_))
    ));
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_allocations WHERE order_id = $1")
            .bind(too_big.id.as_uuid())
            .fetch_one(ledger.pool())
            .await?;
    assert_eq!(rows, 0);
    Ok(())
}

#[tokio::test]
async fn reconcile_finds_and_repairs_warehouse_rows_that_do_not_add_up() -> Result<()> {
    use emporium_domain::service::{FindingKind, ReconciliationService, Resolution};
    let db = migrated_database().await?;
    let ledger = std::sync::Arc::new(PgLedger::connect(&db.url, PgOptions::default()).await?);
    let stores = emporium_domain::ports::Stores {
        inventory: ledger.clone(),
        orders: ledger.clone(),
        payments: ledger.clone(),
        audit: ledger.clone(),
        warehouses: ledger.clone(),
        saga_log: ledger.clone(),
        ..emporium_memory::memory_stores()
    };
    let lamp = emporium_testkit::contract::product("Lamp", "home", "9.00");
    stores.catalog.insert(&lamp).await?;
    stores
        .inventory
        .create_stock(&lamp.sku, lamp.id, Units::new(4).unwrap())
        .await?;
    let order = order_of(
        "c1",
        vec![line(
            &Stocked {
                id: lamp.id,
                sku: lamp.sku.clone(),
            },
            1,
        )],
    );
    ledger.create_pending(&order).await?;
    // Written past the adapter: the total moves, the warehouse rows do not.
    sqlx::query("UPDATE inventory SET on_hand = on_hand + 6 WHERE sku = $1")
        .bind(lamp.sku.as_str())
        .execute(ledger.pool())
        .await?;

    let service = ReconciliationService::new(stores.clone()).with_batch_size(1);
    let check = service.check().await?;
    let found: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::WarehouseSplitMismatch)
        .collect();
    assert_eq!(found.len(), 1, "{check:?}");
    assert!(found[0].actual.contains("on_hand 4"), "{:?}", found[0]);
    assert!(matches!(found[0].resolution, Resolution::Repairable { .. }));

    let fix = service.fix().await?;
    assert!(fix
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::WarehouseSplitMismatch
            && matches!(f.resolution, Resolution::Repaired { .. })));
    let (on_hand, reserved): (i64, i64) = sqlx::query_as(
        "SELECT sum(on_hand)::int8, sum(reserved)::int8 FROM warehouse_stock WHERE sku = $1",
    )
    .bind(lamp.sku.as_str())
    .fetch_one(ledger.pool())
    .await?;
    assert_eq!(
        (on_hand, reserved),
        (10, 1),
        "the pending order keeps its unit"
    );
    assert!(service.check().await?.is_clean());
    Ok(())
}
