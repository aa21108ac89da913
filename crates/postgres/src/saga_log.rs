//! [`SagaLog`]: the durable history of every saga.
//!
//! A saga's entries are one JSONB array per row, appended to in place (`entries || $entry`)
//! so an append is a single statement and two appends can never lose each other.

use crate::error::PgResult;
use crate::rows::{SagaRow, SAGA_COLUMNS};
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{now, SagaEntry, SagaId, SagaRecord, SagaState};
use emporium_domain::ports::SagaLog;
use emporium_domain::{Error, Result};
use sqlx::types::Json;

#[async_trait]
impl SagaLog for PgLedger {
    #[tracing::instrument(name = "pg.saga_log.begin", skip_all, fields(saga_id = %saga.id, kind = %saga.kind))]
    async fn begin(&self, saga: &SagaRecord) -> Result<()> {
        Ok(self.insert_saga(saga).await?)
    }

    #[tracing::instrument(
        name = "pg.saga_log.append",
        skip_all,
        fields(saga_id = %id, step = %entry.step, outcome = %entry.outcome, state = %state)
    )]
    async fn append(&self, id: SagaId, entry: &SagaEntry, state: SagaState) -> Result<()> {
        Ok(self.append_entry(id, entry, state).await?)
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

impl PgLedger {
    /// Idempotent on the id: a second `begin` of the same saga changes nothing.
    async fn insert_saga(&self, saga: &SagaRecord) -> PgResult<()> {
        sqlx::query(
            "INSERT INTO saga_log \
                 (id, kind, subject, state, payload, entries, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(saga.id.as_uuid())
        .bind(saga.kind.to_string())
        .bind(saga.subject)
        .bind(saga.state.to_string())
        .bind(&saga.payload)
        .bind(Json(&saga.entries))
        .bind(saga.started_at)
        .bind(saga.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn append_entry(&self, id: SagaId, entry: &SagaEntry, state: SagaState) -> PgResult<()> {
        let appended = sqlx::query(
            "UPDATE saga_log \
                SET entries = entries || jsonb_build_array($2::jsonb), state = $3, updated_at = $4 \
              WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(Json(entry))
        .bind(state.to_string())
        .bind(now())
        .execute(&self.pool)
        .await?;
        if appended.rows_affected() == 0 {
            return Err(Error::NotFound("saga").into());
        }
        Ok(())
    }

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
