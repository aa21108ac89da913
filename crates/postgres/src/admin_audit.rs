//! [`AdminAudit`]: the audit log of admin calls, one row per call.

use crate::error::classify;
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{AuditEntry, Page, PageRequest};
use emporium_domain::ports::AdminAudit;
use emporium_domain::Result;

type Row = (
    uuid::Uuid,
    chrono::DateTime<chrono::Utc>,
    Option<String>,
    String,
    String,
    i16,
    i64,
);

#[async_trait]
impl AdminAudit for PgLedger {
    #[tracing::instrument(name = "pg.admin_audit.record", skip_all, fields(status = entry.status))]
    async fn record(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_audit (id, at, actor, method, path, status) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(entry.id)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.method)
        .bind(&entry.path)
        .bind(entry.status as i16)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    #[tracing::instrument(name = "pg.admin_audit.entries", skip_all)]
    async fn entries(&self, page: PageRequest) -> Result<Page<AuditEntry>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, actor, method, path, status, count(*) OVER () \
             FROM admin_audit ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2",
        )
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let total = match rows.first() {
            Some(row) => row.6 as u64,
            // Past the end (or empty): count on its own.
            None => {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_audit")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)?;
                n as u64
            }
        };
        Ok(Page {
            items: rows
                .into_iter()
                .map(|(id, at, actor, method, path, status, _)| AuditEntry {
                    id,
                    at,
                    actor,
                    method,
                    path,
                    status: status as u16,
                })
                .collect(),
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }
}
