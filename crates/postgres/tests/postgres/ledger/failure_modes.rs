//! Failure modes.

use super::*;

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
