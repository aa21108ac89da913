//! [`IdempotencyKeys`]: claims, stored responses and expiry, in `idempotency_keys`.
//!
//! A claim is one `INSERT ... ON CONFLICT DO NOTHING`: of many concurrent requests with a
//! new key exactly one inserts (the others wait on the unique index, then see the row).
//! Taking over an abandoned claim is one conditional `UPDATE`.

use crate::error::PgResult;
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{KeyedOutcome, Timestamp};
use emporium_domain::ports::{IdempotencyClaim, IdempotencyKeys};
use emporium_domain::Result;
use std::time::Duration;
use uuid::Uuid;

#[async_trait]
impl IdempotencyKeys for PgLedger {
    #[tracing::instrument(name = "pg.idempotency.claim", skip_all)]
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        proposed: Uuid,
        lease: Duration,
    ) -> Result<IdempotencyClaim> {
        Ok(self.claim_key(key, fingerprint, proposed, lease).await?)
    }

    #[tracing::instrument(name = "pg.idempotency.complete", skip_all)]
    async fn complete(&self, key: &str, outcome: &KeyedOutcome) -> Result<()> {
        let outcome = serde_json::to_value(outcome)
            .map_err(|e| emporium_domain::Error::Internal(format!("an outcome as JSON: {e}")))?;
        sqlx::query("UPDATE idempotency_keys SET outcome = $2, claimed_at = NULL WHERE key = $1")
            .bind(key)
            .bind(outcome)
            .execute(self.pool())
            .await
            .map_err(crate::error::classify)?;
        Ok(())
    }

    #[tracing::instrument(name = "pg.idempotency.release", skip_all)]
    async fn release(&self, key: &str, resume: Uuid) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET claimed_at = NULL, resource_id = $2 \
             WHERE key = $1 AND outcome IS NULL",
        )
        .bind(key)
        .bind(resume)
        .execute(self.pool())
        .await
        .map_err(crate::error::classify)?;
        Ok(())
    }

    #[tracing::instrument(name = "pg.idempotency.purge", skip_all)]
    async fn purge(&self, cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(self.pool())
            .await
            .map_err(crate::error::classify)?;
        Ok(done.rows_affected())
    }
}

impl PgLedger {
    async fn claim_key(
        &self,
        key: &str,
        fingerprint: &str,
        proposed: Uuid,
        lease: Duration,
    ) -> PgResult<IdempotencyClaim> {
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO idempotency_keys (key, request_hash, resource_id, claimed_at) \
             VALUES ($1, $2, $3, now()) \
             ON CONFLICT (key) DO NOTHING \
             RETURNING resource_id",
        )
        .bind(key)
        .bind(fingerprint)
        .bind(proposed)
        .fetch_optional(self.pool())
        .await?;
        if let Some(id) = inserted {
            return Ok(IdempotencyClaim::Proceed { id });
        }
        // The key exists: take it over when its claim was released or has expired.
        let taken: Option<Uuid> = sqlx::query_scalar(
            "UPDATE idempotency_keys SET claimed_at = now() \
             WHERE key = $1 AND request_hash = $2 AND outcome IS NULL \
               AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => $3)) \
             RETURNING resource_id",
        )
        .bind(key)
        .bind(fingerprint)
        .bind(lease.as_secs_f64())
        .fetch_optional(self.pool())
        .await?;
        if let Some(id) = taken {
            return Ok(IdempotencyClaim::Proceed { id });
        }
        let row: Option<(String, Option<serde_json::Value>)> =
            sqlx::query_as("SELECT request_hash, outcome FROM idempotency_keys WHERE key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            Some((hash, _)) if hash != fingerprint => IdempotencyClaim::Mismatch,
            Some((_, Some(outcome))) => {
                IdempotencyClaim::Replay(serde_json::from_value(outcome).map_err(|e| {
                    emporium_domain::Error::Internal(format!("a stored idempotency outcome: {e}"))
                })?)
            }
            // Still claimed, or purged between our statements: either way, not now.
            _ => IdempotencyClaim::InFlight,
        })
    }
}
