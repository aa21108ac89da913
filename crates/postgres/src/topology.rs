//! The ledger's PostgreSQL as a cluster (ADR 0025): its role, the standbys streaming from
//! it (`pg_stat_replication`), and its replication slots. A standby that has a slot and is
//! not connected is reported `down`, so one that stops is seen as gone, not forgotten.

use crate::error::classify;
use async_trait::async_trait;
use emporium_domain::model::{PgReplicationStatus, PgSlot, PgStandby, PoolUsage, SlowQuery};
use emporium_domain::ports::LedgerTopology;
use emporium_domain::Result;
use sqlx::PgPool;

pub struct PgTopology {
    pool: PgPool,
}

impl PgTopology {
    pub fn new(pool: PgPool) -> Self {
        PgTopology { pool }
    }
}

type StandbyRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<f64>,
    Option<String>,
);

#[async_trait]
impl LedgerTopology for PgTopology {
    fn pool(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn acquire_wait(&self) -> Result<std::time::Duration> {
        let started = std::time::Instant::now();
        let conn = self.pool.acquire().await.map_err(classify)?;
        let waited = started.elapsed();
        drop(conn);
        Ok(waited)
    }

    async fn deadlocks(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        Ok(n.max(0) as u64)
    }

    async fn slow_queries(&self, limit: u32) -> Result<Option<Vec<SlowQuery>>> {
        let installed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        if !installed {
            return Ok(None);
        }
        let rows: Vec<(String, i64, f64, f64, f64)> = sqlx::query_as(
            "SELECT query, calls, mean_exec_time, max_exec_time, total_exec_time \
               FROM pg_stat_statements \
              WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
              ORDER BY mean_exec_time DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(Some(
            rows.into_iter()
                .map(|(query, calls, mean_ms, max_ms, total_ms)| SlowQuery {
                    query,
                    calls,
                    mean_ms,
                    max_ms,
                    total_ms,
                })
                .collect(),
        ))
    }

    async fn replication(&self) -> Result<PgReplicationStatus> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        // Where WAL stands here: written (primary) or replayed (standby).
        let here = if in_recovery {
            "pg_last_wal_replay_lsn()"
        } else {
            "pg_current_wal_lsn()"
        };
        let standbys: Vec<StandbyRow> = sqlx::query_as(&format!(
            "SELECT r.application_name, host(r.client_addr), r.state, r.sent_lsn::text, \
                    r.flush_lsn::text, r.replay_lsn::text, \
                    pg_wal_lsn_diff({here}, r.replay_lsn)::int8, \
                    extract(epoch FROM r.replay_lag)::float8, s.slot_name::text \
               FROM pg_stat_replication r \
               LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid \
              ORDER BY r.application_name"
        ))
        .fetch_all(&mut *conn)
        .await
        .map_err(classify)?;
        let slots: Vec<(String, String, bool, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT slot_name::text, slot_type, active, \
                    pg_wal_lsn_diff({here}, restart_lsn)::int8 \
               FROM pg_replication_slots WHERE NOT temporary ORDER BY slot_name"
        ))
        .fetch_all(&mut *conn)
        .await
        .map_err(classify)?;
        let mut status = PgReplicationStatus {
            role: if in_recovery { "standby" } else { "primary" },
            standbys: standbys
                .into_iter()
                .map(
                    |(name, addr, state, sent, flush, replay, lag_bytes, lag_seconds, slot)| {
                        PgStandby {
                            name: name
                                .filter(|n| !n.is_empty())
                                .or(slot)
                                .unwrap_or_else(|| "standby".into()),
                            healthy: state.as_deref() == Some("streaming"),
                            state: state.unwrap_or_else(|| "unknown".into()),
                            client_addr: addr,
                            sent_lsn: sent,
                            flush_lsn: flush,
                            replay_lsn: replay,
                            lag_bytes,
                            lag_seconds: lag_seconds.or(Some(0.0).filter(|_| lag_bytes == Some(0))),
                        }
                    },
                )
                .collect(),
            slots: slots
                .into_iter()
                .map(|(name, kind, active, retained_bytes)| PgSlot {
                    name,
                    kind,
                    active,
                    retained_bytes,
                })
                .collect(),
        };
        // A physical slot nobody streams from: its standby is down.
        for slot in status
            .slots
            .iter()
            .filter(|s| !s.active && s.kind == "physical")
        {
            status.standbys.push(PgStandby {
                name: slot.name.clone(),
                state: "down".into(),
                healthy: false,
                client_addr: None,
                sent_lsn: None,
                flush_lsn: None,
                replay_lsn: None,
                lag_bytes: slot.retained_bytes,
                lag_seconds: None,
            });
        }
        Ok(status)
    }
}
