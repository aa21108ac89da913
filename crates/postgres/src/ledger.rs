//! The ledger handle: a connection pool with bounded waits, and its migrations.

use crate::error::{classify, STORE};
use emporium_domain::{Error, Result};
use sqlx::{
    migrate::{MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
    Connection, PgPool,
};
use std::{str::FromStr, time::Duration};

/// The schema, embedded at build time from `crates/postgres/migrations`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A digest of the embedded migrations (versions and checksums): it names what a database
/// built by them contains, e.g. the template the tests clone their databases from.
pub fn migrations_digest() -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for m in MIGRATOR.iter() {
        m.version.hash(&mut hasher);
        m.checksum.hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

/// Connects to `url` and applies every migration (a test template, a fresh database).
pub async fn migrate_database(url: &str) -> emporium_domain::Result<()> {
    let ledger = PgLedger::connect(url, PgOptions::default()).await?;
    let migrated = ledger.migrate().await;
    ledger.pool.close().await;
    migrated
}

/// How `create_pending` keeps two orders from selling the same unit twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockingStrategy {
    /// Lock the order's stock rows (`SELECT ... FOR UPDATE`, in SKU order so crossed
    /// baskets cannot deadlock), check, then reserve. Concurrent orders for the same SKU
    /// queue on the row lock; none is refused for contention.
    #[default]
    Pessimistic,
    /// Read the rows and their `version` without locking, check, then reserve with
    /// `UPDATE ... WHERE version = <read>`. A row changed in between makes the whole
    /// transaction start again after a short jittered backoff. After a bounded number of
    /// such attempts the order takes the pessimistic path, so a hot SKU delays an order but
    /// never starves it. Holds no lock while checking: cheaper when orders rarely share
    /// SKUs, more work (retries) when they often do.
    Optimistic,
}

/// Connection and concurrency settings of a [`PgLedger`].
///
/// Every wait is bounded so that a slow or stuck database turns into `Unavailable`
/// (HTTP 503) within seconds instead of piling up requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// Longest wait for a pooled connection (including opening a new one).
    pub acquire_timeout: Duration,
    /// Longest wait for the first connection in [`PgLedger::connect`].
    pub connect_timeout: Duration,
    /// Server-side cap on one statement (`statement_timeout`).
    pub statement_timeout: Duration,
    /// Server-side cap on waiting for a row or table lock (`lock_timeout`). Shorter than
    /// `statement_timeout` so lock waits are reported as such.
    pub lock_timeout: Duration,
    /// How stock reservations are kept consistent.
    pub locking: LockingStrategy,
    /// How this process's writes wake the event feed's relay.
    pub feed_wakeup: FeedWakeup,
}

/// How the ledger's writes wake the event feed's relay (ADR 0013).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeedWakeup {
    /// The outbox trigger sends `NOTIFY emporium_outbox` at commit: every relay listening,
    /// in any process, wakes. For processes that run no relay (the CLI's tools).
    #[default]
    Notify,
    /// This process runs the relay and wakes it in process after each write; its
    /// transactions skip `NOTIFY` (the connections say so in the `emporium.writer`
    /// setting). PostgreSQL serialises the commits of notifying transactions, flushes
    /// included, which would cost every order the group commit it otherwise shares.
    /// Writers outside (psql, tools) still notify, and the relay's own `NOTIFY
    /// emporium_feed` wakes the readers of every other server.
    InProcess,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
            locking: LockingStrategy::Pessimistic,
            feed_wakeup: FeedWakeup::Notify,
        }
    }
}

/// The PostgreSQL ledger: inventory, orders, payments and the saga log.
///
/// Implements [`Inventory`], [`Orders`], [`Payments`] and [`SagaLog`]; each port method runs
/// as one transaction. Cloning is cheap (the pool is shared).
///
/// [`Inventory`]: emporium_domain::ports::Inventory
/// [`Orders`]: emporium_domain::ports::Orders
/// [`Payments`]: emporium_domain::ports::Payments
/// [`SagaLog`]: emporium_domain::ports::SagaLog
/// How long a pooled connection may sit idle and still be handed out without a ping.
///
/// sqlx pings every idle connection before handing it out by default: one round trip per
/// transaction, two per order, on a path whose cost is counted in round trips. A
/// connection returned to the pool moments ago was alive moments ago, so, as HikariCP's
/// `aliveBypassWindowMs` does (same 500 ms), only one idle for longer is pinged. A server
/// gone within the window shows as a failed statement, which maps to 503 like any outage.
const TRUSTED_IDLE: Duration = Duration::from_millis(500);

/// The longest a liveness ping of a pooled connection may take. A connection whose
/// request or answer the network dropped while the TCP connection stayed up (a black hole,
/// a half-open link) never answers again, and sqlx's own test of a returned connection
/// (a ping without a deadline) would wait on it forever, holding its pool slot: after a
/// few such, every request waits out the acquire timeout and the server answers 503 for
/// good. Found by the soak (issue 13). A healthy server answers a ping in microseconds.
const PING_DEADLINE: Duration = Duration::from_secs(2);

/// Pings `conn`; a connection that does not answer within [`PING_DEADLINE`] is an error,
/// so the pool closes it instead of keeping it.
async fn ping_within_deadline(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(PING_DEADLINE, conn.ping()).await {
        Ok(answered) => answered,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer to a liveness ping",
        ))),
    }
}

#[derive(Debug, Clone)]
pub struct PgLedger {
    pub(crate) pool: PgPool,
    pub(crate) locking: LockingStrategy,
    pub(crate) wakeups: crate::outbox::Wakeups,
    /// A read-only standby: reports read the rollup as replicated, without folding first
    /// (a standby cannot write).
    pub(crate) replica: bool,
}

impl PgLedger {
    /// Opens a pool on `url` and checks that the server answers.
    ///
    /// Timeouts are set as connection startup parameters, so they hold for every statement
    /// on every pooled connection without an extra round trip. `Unavailable` when the
    /// server cannot be reached within `opts.connect_timeout`.
    pub async fn connect(url: &str, opts: PgOptions) -> Result<PgLedger> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Internal(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("emporium")
            .options([
                ("statement_timeout", millis(opts.statement_timeout)),
                ("lock_timeout", millis(opts.lock_timeout)),
            ]);
        if opts.feed_wakeup == FeedWakeup::InProcess {
            connect = connect.options([("emporium.writer", "app")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > TRUSTED_IDLE {
                        ping_within_deadline(conn).await?;
                    }
                    Ok(true)
                })
            })
            // A connection comes back mid-request when the caller gave up on it (a
            // deadline, a dropped request): only an answer within the deadline keeps it.
            .after_release(|conn, _| {
                Box::pin(async move { ping_within_deadline(conn).await.map(|()| true) })
            })
            .connect_with(connect);
        let pool = tokio::time::timeout(opts.connect_timeout, pool)
            .await
            .map_err(|_| {
                tracing::warn!(timeout = ?opts.connect_timeout, "postgres did not answer");
                Error::Unavailable(STORE.to_owned())
            })?
            .map_err(classify)?;
        Ok(PgLedger::from_pool(pool).with_locking(opts.locking))
    }

    /// Wraps a pool configured elsewhere (pessimistic locking).
    pub fn from_pool(pool: PgPool) -> PgLedger {
        PgLedger {
            pool,
            locking: LockingStrategy::default(),
            wakeups: Default::default(),
            replica: false,
        }
    }

    /// The same ledger as a read-only standby for reports (issue 12, read routing): they
    /// read the rollup as the primary last folded it and replication brought it, so they
    /// lag by the primary's catch-up interval plus the replication lag.
    pub fn as_replica(mut self) -> PgLedger {
        self.replica = true;
        self
    }

    /// The same ledger with another reservation strategy.
    pub fn with_locking(mut self, locking: LockingStrategy) -> PgLedger {
        self.locking = locking;
        self
    }

    /// The reservation strategy in use.
    pub fn locking(&self) -> LockingStrategy {
        self.locking
    }

    /// The underlying pool (for health checks, tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Brings the schema up to date. Safe to run from several processes at once: sqlx holds
    /// an advisory lock while migrating.
    #[tracing::instrument(name = "pg.migrate", skip_all)]
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            MigrateError::Execute(e) => classify(e),
            MigrateError::ExecuteMigration(e, version) => {
                tracing::error!(version, "migration failed");
                classify(e)
            }
            other => Error::Internal(format!("postgres migration: {other}")),
        })
    }

    /// Answers only when the server answers (`SELECT 1`).
    #[tracing::instrument(name = "pg.ping", skip_all)]
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(classify)
    }
}

/// A duration as a PostgreSQL setting value (`"5000ms"`).
fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_bounded() {
        let o = PgOptions::default();
        assert_eq!(o.max_connections, 10);
        assert_eq!(o.acquire_timeout, Duration::from_secs(3));
        assert!(o.lock_timeout < o.statement_timeout);
        assert_eq!(o.locking, LockingStrategy::Pessimistic);
    }

    #[test]
    fn settings_are_in_milliseconds() {
        assert_eq!(millis(Duration::from_secs(5)), "5000ms");
    }
}
