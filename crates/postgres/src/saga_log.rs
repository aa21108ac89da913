//! [`SagaLog`]: the durable history of every saga.
//!
//! A saga is one row; its entries one JSONB array. The executor writes the whole record
//! each time (a saga is written by one process at a time: recovery takes only sagas that
//! have not moved for longer than any live step takes), and the ledger steps of the
//! placement saga write it inside their own transactions ([`save`]).

use crate::error::{Failure, PgResult};
use crate::rows::{SagaRow, SAGA_COLUMNS};
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{SagaId, SagaRecord, SagaState};
use emporium_domain::ports::SagaLog;
use emporium_domain::Result;
use sqlx::types::Json;
use sqlx::PgConnection;

#[async_trait]
impl SagaLog for PgLedger {
    #[tracing::instrument(
        name = "pg.saga_log.save",
        skip_all,
        fields(saga_id = %saga.id, kind = %saga.kind, state = %saga.state)
    )]
    async fn save(&self, saga: &SagaRecord) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(Failure::from)?;
        Ok(save(&mut conn, saga).await?)
    }

    #[tracing::instrument(name = "pg.saga_log.get", skip_all, fields(saga_id = %id))]
    async fn get(&self, id: SagaId) -> Result<Option<SagaRecord>> {
        Ok(self.saga(id).await?)
    }

    #[tracing::instrument(name = "pg.saga_log.in_state", skip_all, fields(state = %state, limit))]
    async fn in_state(&self, state: SagaState, limit: u32) -> Result<Vec<SagaRecord>> {
        Ok(self.sagas_in_state(state, limit).await?)
    }
}

/// Inserts the record, or replaces the stored one (all but `started_at`), on the caller's
/// connection: inside the transaction of the step it records, or on its own.
pub(crate) async fn save(conn: &mut PgConnection, saga: &SagaRecord) -> PgResult<()> {
    sqlx::query(
        "INSERT INTO saga_log \
             (id, kind, subject, state, payload, entries, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET \
             state = EXCLUDED.state, payload = EXCLUDED.payload, \
             entries = EXCLUDED.entries, updated_at = EXCLUDED.updated_at",
    )
    .bind(saga.id.as_uuid())
    .bind(saga.kind.to_string())
    .bind(saga.subject)
    .bind(saga.state.to_string())
    .bind(&saga.payload)
    .bind(Json(&saga.entries))
    .bind(saga.started_at)
    .bind(saga.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

impl PgLedger {
    async fn saga(&self, id: SagaId) -> PgResult<Option<SagaRecord>> {
        let sql = format!("SELECT {SAGA_COLUMNS} FROM saga_log WHERE id = $1");
        let row: Option<SagaRow> = sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.map(SagaRow::into_record).transpose()
    }

    /// Oldest first; ties (same start) by id, so pages of recovery work are stable.
    async fn sagas_in_state(&self, state: SagaState, limit: u32) -> PgResult<Vec<SagaRecord>> {
        let sql = format!(
            "SELECT {SAGA_COLUMNS} FROM saga_log WHERE state = $1 \
             ORDER BY started_at, id LIMIT $2"
        );
        let rows: Vec<SagaRow> = sqlx::query_as(&sql)
            .bind(state.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(SagaRow::into_record).collect()
    }
}
