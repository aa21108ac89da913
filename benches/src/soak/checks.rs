//! The verdict, from the databases: sagas ended, stock balanced, nothing lost, sold
//! twice, charged twice or unpaid.

use super::*;

/// Waits until no saga is left running, compensating or stuck, and no order pending or
/// queued; the time it took.
pub(super) async fn wait_for_sagas(pg: &mut PgConnection, log: &Path) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM saga_log WHERE state NOT IN ('completed', 'compensated')) \
                  + (SELECT count(*) FROM orders WHERE status IN ('pending', 'queued'))",
        )
        .fetch_one(&mut *pg)
        .await?;
        if open == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > SETTLE_BOUND {
            eprintln!("{open} sagas or orders still open after {SETTLE_BOUND:?}:");
            describe_open(pg, log).await?;
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints what a saga or order left open looks like: every saga record of its subject, the
/// order, and the server's log lines that name it, so that a failed run can be read.
async fn describe_open(pg: &mut PgConnection, log: &Path) -> Result<()> {
    let subjects: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT subject FROM saga_log WHERE state NOT IN ('completed', 'compensated') \
         UNION SELECT id FROM orders WHERE status IN ('pending', 'queued') LIMIT 20",
    )
    .fetch_all(&mut *pg)
    .await?;
    let log = std::fs::read_to_string(log).unwrap_or_default();
    for subject in subjects {
        let order: Option<(String, String)> =
            sqlx::query_as("SELECT status, created_at::text FROM orders WHERE id = $1")
                .bind(subject)
                .fetch_optional(&mut *pg)
                .await?;
        eprintln!("  subject {subject}: order {order:?}");
        let sagas: Vec<(uuid::Uuid, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, kind, state, started_at::text, updated_at::text, entries::text \
             FROM saga_log WHERE subject = $1 ORDER BY started_at",
        )
        .bind(subject)
        .fetch_all(&mut *pg)
        .await?;
        for (id, kind, state, started, updated, entries) in sagas {
            eprintln!(
                "    saga {id} {kind} {state} started {started} updated {updated}: {entries}"
            );
        }
        let payments: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT status, gateway_ref FROM payments WHERE order_id = $1")
                .bind(subject)
                .fetch_all(&mut *pg)
                .await?;
        eprintln!("    payments {payments:?}");
        for line in log
            .lines()
            .filter(|l| l.contains(&subject.to_string()))
            .take(40)
        {
            eprintln!("    log: {line}");
        }
    }
    Ok(())
}

/// The authorizations the test gateway voided, from its journal (one JSON object a line).
fn voided_authorizations(journal: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(journal)
        .with_context(|| format!("reading the gateway journal {}", journal.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|entry| entry.get("void")?.as_str().map(str::to_owned))
        .collect())
}

pub(super) async fn check(
    pg: &mut PgConnection,
    mongo_uri: &str,
    journal: &Path,
    run: &Run,
) -> Result<Checks> {
    let placed = run.placed.lock().expect("placed").clone();
    let cancelled = run.cancelled.lock().expect("cancelled").clone();
    let cancel_sent = run.cancel_sent.lock().expect("cancel_sent").clone();
    let skus: Vec<String> = run.catalog.iter().map(|p| p.sku.clone()).collect();
    let initial: Vec<i64> = run.catalog.iter().map(|p| p.initial).collect();
    let mut checks = Checks {
        placed: placed.len(),
        cancelled: cancelled.len(),
        ..Checks::default()
    };
    let (oversold, unbalanced, units_sold): (i64, i64, i64) = sqlx::query_as(
        "WITH run AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS r(sku, initial)), \
              sold AS (SELECT i.sku, sum(i.quantity)::bigint AS units FROM order_items i \
                       JOIN orders o ON o.id = i.order_id \
                       WHERE o.status IN ('confirmed', 'shipped', 'delivered') GROUP BY i.sku) \
         SELECT coalesce(sum(greatest(coalesce(sold.units, 0) - run.initial, 0)), 0)::bigint, \
                coalesce(sum(abs((run.initial - s.on_hand) - coalesce(sold.units, 0)) \
                             + s.reserved), 0)::bigint, \
                coalesce(sum(sold.units), 0)::bigint \
         FROM run JOIN inventory s ON s.sku = run.sku LEFT JOIN sold ON sold.sku = run.sku",
    )
    .bind(&skus)
    .bind(&initial)
    .fetch_one(&mut *pg)
    .await?;
    let warehouses_off: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(abs(i.on_hand - w.on_hand) + abs(i.reserved - w.reserved)), 0)::bigint \
         FROM inventory i JOIN (SELECT sku, sum(on_hand) AS on_hand, sum(reserved) AS reserved \
                                FROM warehouse_stock GROUP BY sku) w ON w.sku = i.sku",
    )
    .fetch_one(&mut *pg)
    .await?;
    let missing_stock: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::text[]) AS r(sku) \
         WHERE NOT EXISTS (SELECT 1 FROM inventory i WHERE i.sku = r.sku)",
    )
    .bind(&skus)
    .fetch_one(&mut *pg)
    .await?;
    checks.oversold = oversold;
    checks.unbalanced = unbalanced + warehouses_off + missing_stock;
    checks.units_sold = units_sold;
    // Kept: confirmed with an authorized payment and never cancelled by this run, or
    // cancelled by this run (a cancel whose answer was lost counts if it landed). A 200
    // cancel must have landed.
    let lost: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT p.id, coalesce(o.status, 'missing') FROM unnest($1::uuid[]) AS p(id) \
         LEFT JOIN orders o ON o.id = p.id \
         WHERE NOT ((o.status = 'cancelled' AND p.id = ANY($3)) \
                 OR (o.status = 'confirmed' AND NOT (p.id = ANY($2)) AND EXISTS \
                     (SELECT 1 FROM payments y WHERE y.order_id = p.id AND y.status = 'authorized'))) \
            OR o.status IS NULL",
    )
    .bind(&placed)
    .bind(&cancelled)
    .bind(&cancel_sent)
    .fetch_all(&mut *pg)
    .await?;
    for (id, status) in lost.iter().take(10) {
        eprintln!("lost: order {id} answered 2xx is {status}");
    }
    checks.lost = lost.len() as i64;
    checks.double_charged = crate::placement::double_charged(pg).await?;
    let unpaid: Vec<(uuid::Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT o.id, o.status, p.status FROM orders o \
           LEFT JOIN payments p ON p.order_id = o.id \
          WHERE o.status IN ('confirmed', 'shipped', 'delivered') \
            AND (p.status IS DISTINCT FROM 'authorized' OR p.gateway_ref = ANY($1))",
    )
    .bind(voided_authorizations(journal)?)
    .fetch_all(&mut *pg)
    .await?;
    for (id, status, payment) in unpaid.iter().take(10) {
        eprintln!("unpaid sale: order {id} is {status}, its payment {payment:?} or voided");
    }
    checks.unpaid_sales = unpaid.len() as i64;
    checks.open_sagas = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM saga_log WHERE state NOT IN ('completed', 'compensated')) \
              + (SELECT count(*) FROM orders WHERE status IN ('pending', 'queued'))",
    )
    .fetch_one(&mut *pg)
    .await?;
    checks.confirmed_orders =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&mut *pg)
            .await?;
    checks.duplicated_events = sqlx::query_scalar(
        "SELECT coalesce(sum(n - 1), 0)::bigint FROM ( \
             SELECT count(*) AS n FROM outbox WHERE event_type IN ('order.created', 'order.updated') \
             GROUP BY aggregate_id, event_type, payload->>'status' HAVING count(*) > 1) d",
    )
    .fetch_one(&mut *pg)
    .await?;
    // The relay publishes within a second; give it a few.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        checks.unpublished_events =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE seq IS NULL")
                .fetch_one(&mut *pg)
                .await?;
        if checks.unpublished_events == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mongo = mongodb::Client::with_uri_str(mongo_uri).await?;
    let stored = mongo
        .database("emporium")
        .collection::<mongodb::bson::Document>("products")
        .count_documents(mongodb::bson::doc! {"sku": {"$in": &skus}})
        .await?;
    checks.missing_products = skus.len() as i64 - stored as i64;
    Ok(checks)
}
