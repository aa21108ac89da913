//! Schema.

use super::*;

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
