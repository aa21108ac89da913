//! The event feed on PostgreSQL: the outbox, its relay and the replay window (ADR 0013).
//!
//! * **Recording.** Triggers (migration 0009) write an outbox row for every order and
//!   stock change in the transaction that makes it, whoever makes it; catalog changes from
//!   MongoDB's change stream come in through [`EventLog::record_external`], together with
//!   the stream's resume token. A statement trigger on the outbox sends
//!   `NOTIFY emporium_outbox`, delivered at commit.
//! * **Relaying.** [`EventLog::relay`] claims unpublished rows in insertion order with
//!   `FOR UPDATE SKIP LOCKED` and gives each its `seq` from `feed_seq`, under a
//!   transaction-scoped advisory lock: relays of several servers take turns, so `seq`s
//!   become visible in increasing order and a reader that has seen `n` has seen all below
//!   it. Then `NOTIFY emporium_feed` wakes every server's readers.
//! * **Replaying.** Published rows stay for the replay window; [`EventLog::prune`] deletes
//!   older ones and remembers the highest `seq` it deleted, so a reader asking for
//!   something older learns it was truncated.

use crate::error::{corrupt, PgResult};
use crate::PgLedger;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use emporium_domain::model::{
    DomainEvent, EventKind, FeedEvent, Replay, ResumeToken, Seq, Timestamp,
};
use emporium_domain::ports::EventLog;
use emporium_domain::Result;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The advisory lock relays take turns on (any constant unique to this use).
const RELAY_LOCK: i64 = 0x656d_706f_7269_756d; // "emporium"
/// How many rows one relay transaction claims.
const RELAY_BATCH: i64 = 1000;

/// What wakes the relay: the `LISTEN` connection (opened on first use, reopened after an
/// error), and, for this process's own writes when they skip `NOTIFY`
/// ([`crate::FeedWakeup::InProcess`]), a wake-up in process.
#[derive(Default, Clone)]
pub(crate) struct Wakeups {
    listener: Arc<tokio::sync::Mutex<Option<PgListener>>>,
    local: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wakeups")
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    event_type: String,
    aggregate_id: Uuid,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl EventRow {
    fn into_event(self) -> PgResult<FeedEvent> {
        let kind = EventKind::parse(&self.event_type)
            .ok_or_else(|| corrupt("outbox.event_type", &self.event_type))?;
        Ok(FeedEvent {
            event: DomainEvent {
                kind,
                id: self.aggregate_id,
                data: self.payload,
                at: self.created_at,
            },
            seq: Seq(u64::try_from(self.seq).map_err(|_| corrupt("outbox.seq", self.seq))?),
        })
    }
}

fn sql_seq(seq: Seq) -> i64 {
    i64::try_from(seq.0).unwrap_or(i64::MAX)
}

impl PgLedger {
    /// After a write of this process: wakes its relay, if it is waiting, or the next wait
    /// (a write whose transaction skipped `NOTIFY` is relayed as promptly as one that
    /// sent it). Harmless when nothing was written.
    pub(crate) fn wake_feed(&self) {
        self.wakeups.local.notify_one();
    }

    /// `result`, after waking the relay: for every write that can add outbox rows.
    pub(crate) fn woken<T>(&self, result: PgResult<T>) -> PgResult<T> {
        self.wake_feed();
        result
    }

    async fn relay_batch(&self) -> PgResult<u64> {
        let mut tx = self.pool.begin().await?;
        // The relay's commit need not wait for its WAL flush: if a crash loses it, the rows
        // are unpublished again and the next relay numbers them anew, after every `seq`
        // handed out before (the sequence's WAL runs ahead of its values). A client that
        // saw the old number gets the event again (at least once), never misses it. Waiting
        // for the flush made each relay a second fsync per order (ADR 0013, evidence).
        sqlx::query(
            "SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', 'off', true)",
        )
        .bind(RELAY_LOCK)
        .execute(&mut *tx)
        .await?;
        // `nextval` runs in the order the claimed rows come out of the sorted subquery,
        // so `seq` follows insertion order within the batch.
        let published = sqlx::query(
            "UPDATE outbox o SET seq = c.seq, published_at = now() \
               FROM (SELECT id, nextval('feed_seq') AS seq \
                       FROM (SELECT id FROM outbox WHERE seq IS NULL \
                              ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) claimed) c \
              WHERE o.id = c.id",
        )
        .bind(RELAY_BATCH)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if published > 0 {
            sqlx::query("SELECT pg_notify('emporium_feed', '')")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(published)
    }

    async fn read_events(&self, after: Seq, limit: u32) -> PgResult<Replay> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, event_type, aggregate_id, payload, created_at FROM outbox \
              WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(sql_seq(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let pruned: i64 = sqlx::query_scalar("SELECT pruned_through FROM feed_window")
            .fetch_one(&self.pool)
            .await?;
        Ok(Replay {
            events: rows
                .into_iter()
                .map(EventRow::into_event)
                .collect::<PgResult<_>>()?,
            truncated: sql_seq(after) < pruned,
        })
    }

    async fn record_change(
        &self,
        source: &str,
        events: &[DomainEvent],
        previous: Option<&ResumeToken>,
        resume: &ResumeToken,
    ) -> PgResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Moves the cursor only from where this follower saw it: of two followers of the
        // same stream, one records each change.
        let moved = match previous {
            Some(previous) => sqlx::query(
                "UPDATE feed_cursor SET resume_token = $3, updated_at = now() \
                  WHERE source = $1 AND resume_token = $2",
            )
            .bind(source)
            .bind(&previous.0)
            .bind(&resume.0)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "INSERT INTO feed_cursor (source, resume_token) VALUES ($1, $2) \
                 ON CONFLICT (source) DO NOTHING",
            )
            .bind(source)
            .bind(&resume.0)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if moved == 0 {
            return Ok(false);
        }
        // One statement for the lot, in order (`WITH ORDINALITY` keeps the outbox ids, and
        // so the relay's `seq`s, in the order the source gave).
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
        let ats: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
        sqlx::query(
            "INSERT INTO outbox (event_type, aggregate_id, payload, created_at) \
             SELECT kind, id, payload, at \
               FROM unnest($1::text[], $2::uuid[], $3::jsonb[], $4::timestamptz[]) \
                    WITH ORDINALITY AS e(kind, id, payload, at, n) \
              ORDER BY n",
        )
        .bind(&kinds)
        .bind(&ids)
        .bind(&payloads)
        .bind(&ats)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn prune_before(&self, cutoff: Timestamp) -> PgResult<u64> {
        let mut tx = self.pool.begin().await?;
        let (count, highest): (i64, Option<i64>) = sqlx::query_as(
            "WITH gone AS (DELETE FROM outbox WHERE seq IS NOT NULL AND published_at < $1 \
                           RETURNING seq) \
             SELECT count(*), max(seq) FROM gone",
        )
        .bind(cutoff)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(highest) = highest {
            sqlx::query("UPDATE feed_window SET pruned_through = GREATEST(pruned_through, $1)")
                .bind(highest)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Waits for a notification on the feed's channels, opening the listener if needed.
    async fn wait_for_notification(&self, timeout: Duration) -> PgResult<()> {
        let mut slot = self.wakeups.listener.lock().await;
        if slot.is_none() {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener
                .listen_all(["emporium_outbox", "emporium_feed"])
                .await?;
            *slot = Some(listener);
        }
        let Some(listener) = slot.as_mut() else {
            return Ok(());
        };
        let local = self.wakeups.local.clone();
        tokio::select! {
            received = tokio::time::timeout(timeout, listener.recv()) => {
                if let Ok(received) = received {
                    received?;
                }
            }
            () = local.notified() => {}
        }
        // Several commits may have notified: one wake-up covers them all.
        while let Some(more) = listener.next_buffered() {
            drop(more);
        }
        Ok(())
    }
}

#[async_trait]
impl EventLog for PgLedger {
    #[tracing::instrument(name = "pg.feed.relay", skip_all)]
    async fn relay(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.relay_batch().await?;
            total += n;
            if n < RELAY_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn read_after(&self, after: Seq, limit: u32) -> Result<Replay> {
        Ok(self.read_events(after, limit).await?)
    }

    async fn head(&self) -> Result<Seq> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(crate::error::classify)?;
        Ok(Seq(head.and_then(|h| u64::try_from(h).ok()).unwrap_or(0)))
    }

    async fn wait(&self, timeout: Duration) {
        if let Err(e) = self.wait_for_notification(timeout).await {
            let e: emporium_domain::Error = e.into();
            tracing::warn!(error = %e, "feed listener failed; reconnecting");
            *self.wakeups.listener.lock().await = None;
            tokio::time::sleep(timeout.min(Duration::from_secs(1))).await;
        }
    }

    async fn record_external(
        &self,
        source: &str,
        events: &[DomainEvent],
        previous: Option<&ResumeToken>,
        resume: &ResumeToken,
    ) -> Result<bool> {
        Ok(self.woken(self.record_change(source, events, previous, resume).await)?)
    }

    async fn resume_token(&self, source: &str) -> Result<Option<ResumeToken>> {
        let token: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT resume_token FROM feed_cursor WHERE source = $1")
                .bind(source)
                .fetch_optional(&self.pool)
                .await
                .map_err(crate::error::classify)?;
        Ok(token.map(ResumeToken))
    }

    #[tracing::instrument(name = "pg.feed.prune", skip_all)]
    async fn prune(&self, cutoff: Timestamp) -> Result<u64> {
        Ok(self.prune_before(cutoff).await?)
    }
}
