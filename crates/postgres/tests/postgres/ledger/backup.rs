//! The backup adapter's hold on the server between a backup's consistent point and its
//! seal: a REPEATABLE READ snapshot, let go when the backup fails half way.

use super::migrated_database;
use emporium_domain::ports::StoreBackup;
use emporium_postgres::{PgBackRest, PgBackRestConfig};

/// Transactions open on `database`, other than the caller's.
async fn open_transactions(admin: &sqlx::PgPool, database: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
          WHERE datname = $1 AND state LIKE 'idle in transaction%'",
    )
    .bind(database)
    .fetch_one(admin)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_abandoned_backup_lets_its_snapshot_go() {
    let db = migrated_database().await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let backup = PgBackRest::new(
        pool.clone(),
        PgBackRestConfig {
            stanza: "unused".into(),
            config: None,
            data_dir: std::env::temp_dir(),
            bindir: None,
            run_as: None,
        },
    );
    backup.mark("emporium-abandon-test").await.expect("mark");
    assert_eq!(
        open_transactions(&pool, &db.name).await,
        1,
        "the mark holds a snapshot"
    );
    backup.abandon().await;
    assert_eq!(
        open_transactions(&pool, &db.name).await,
        0,
        "the snapshot was let go"
    );
    pool.close().await;
}
