//! Event feed wake-ups.

use super::*;

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
