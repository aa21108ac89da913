//! PostgreSQL's side of backups, through pgBackRest (ADR 0015).
//!
//! * **Base copy**: `pgbackrest backup` (full, or incremental on the last backup), into
//!   pgBackRest's own repository; the cluster archives its WAL there continuously
//!   (`archive_command = pgbackrest archive-push %p`).
//! * **Consistent point**: a named restore point (`pg_create_restore_point`), created with
//!   the server's writes paused, and the rows per table at that moment.
//! * **Seal**: a WAL switch, then a wait until the segment holding the restore point is
//!   archived, so the backup can always reach its point.
//! * **Restore**: the cluster is stopped, `pgbackrest restore --delta --type=name` brings
//!   back the base copy and replays WAL up to the restore point, and the server, started
//!   again, promotes there. Clients reconnect by themselves (the pool tests connections).
//!
//! pgBackRest and `pg_ctl` run on the database host, as the cluster's owner: the server
//! and this adapter share a machine (or, in containers, a volume; see `deploy/`).

use crate::error::classify;
use async_trait::async_trait;
use emporium_domain::model::{BackupType, Mark, StoreManifest, Timestamp};
use emporium_domain::ports::StoreBackup;
use emporium_domain::{Error, Result};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::Command;

/// The tables whose rows a backup counts and a restore checks.
pub const COUNTED_TABLES: [&str; 5] =
    ["inventory", "orders", "order_items", "payments", "saga_log"];

/// How long the restore point's WAL segment may take to reach the archive.
const ARCHIVE_WAIT: Duration = Duration::from_secs(120);

/// Where pgBackRest and the cluster are.
#[derive(Debug, Clone)]
pub struct PgBackRestConfig {
    /// The pgBackRest stanza of this cluster.
    pub stanza: String,
    /// pgBackRest's configuration file; its default (`/etc/pgbackrest.conf`) when `None`.
    pub config: Option<PathBuf>,
    /// The cluster's data directory (for `pg_ctl` during a restore).
    pub data_dir: PathBuf,
    /// The folder with `pg_ctl`; `PATH` when `None`.
    pub bindir: Option<PathBuf>,
    /// The operating-system user pgBackRest and `pg_ctl` run as (`runuser -u`), when the
    /// server is not ours: the cluster's owner, usually `postgres`.
    pub run_as: Option<String>,
}

/// Backs the ledger up with pgBackRest.
pub struct PgBackRest {
    pool: PgPool,
    config: PgBackRestConfig,
    /// The label of the base copy the current backup made.
    label: Mutex<Option<String>>,
    /// The transaction that holds the consistent point's snapshot, from mark to seal.
    snapshot: tokio::sync::Mutex<Option<sqlx::Transaction<'static, sqlx::Postgres>>>,
}

impl PgBackRest {
    pub fn new(pool: PgPool, config: PgBackRestConfig) -> Self {
        PgBackRest {
            pool,
            config,
            label: Mutex::new(None),
            snapshot: tokio::sync::Mutex::new(None),
        }
    }

    fn command(&self, program: &str) -> Command {
        let program = match (&self.config.bindir, program) {
            (Some(dir), "pg_ctl") => dir.join("pg_ctl").into_os_string(),
            _ => program.into(),
        };
        let mut command = match &self.config.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    fn pgbackrest(&self, args: &[&str]) -> Command {
        let mut command = self.command("pgbackrest");
        if let Some(config) = &self.config.config {
            command.arg(format!("--config={}", config.display()));
        }
        command.arg(format!("--stanza={}", self.config.stanza));
        command.args(args);
        command
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&self.config.data_dir).args(args);
        command
    }

    async fn counts_now(&self) -> Result<BTreeMap<String, u64>> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        count_rows(&mut conn).await
    }

    /// `pgbackrest info` for this stanza, as JSON.
    async fn info(&self) -> Result<Value> {
        let out = run(
            self.pgbackrest(&["--output=json", "info"]),
            "pgbackrest info",
        )
        .await?;
        let all: Value = serde_json::from_str(&out)
            .map_err(|e| Error::Internal(format!("pgbackrest info: {e}")))?;
        all.as_array()
            .and_then(|stanzas| stanzas.first())
            .cloned()
            .ok_or_else(|| Error::Internal("pgbackrest info names no stanza".into()))
    }
}

/// Rows per counted table, as `conn` (or its transaction's snapshot) sees them.
async fn count_rows(conn: &mut sqlx::PgConnection) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for table in COUNTED_TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        counts.insert(table.to_owned(), n as u64);
    }
    Ok(counts)
}

/// Runs `command`; its stdout, or its output in the error.
async fn run(mut command: Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .await
        .map_err(|e| Error::Unavailable(format!("{what}: cannot run it: {e}")))?;
    if !output.status.success() {
        return Err(Error::Unavailable(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[async_trait]
impl StoreBackup for PgBackRest {
    fn store(&self) -> &'static str {
        "postgres"
    }

    #[tracing::instrument(name = "backup.postgres.base", skip_all, fields(?kind))]
    async fn base(&self, _dir: &Path, kind: BackupType) -> Result<()> {
        let kind = match kind {
            BackupType::Full => "--type=full",
            // pgBackRest falls back to full when there is no full backup to build on.
            BackupType::Incremental => "--type=incr",
        };
        run(self.pgbackrest(&[kind, "backup"]), "pgbackrest backup").await?;
        let info = self.info().await?;
        let label = info["backup"]
            .as_array()
            .and_then(|backups| backups.last())
            .and_then(|b| b["label"].as_str())
            .ok_or_else(|| Error::Internal("pgbackrest info lists no backup".into()))?;
        *self
            .label
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))? = Some(label.to_owned());
        Ok(())
    }

    /// The restore point is created in a REPEATABLE READ transaction whose snapshot is
    /// taken by that same statement: `seal` counts the rows in it, as of the point, after
    /// the writes are let go again.
    async fn mark(&self, label: &str) -> Result<Mark> {
        let mut snapshot = self.pool.begin().await.map_err(classify)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *snapshot)
            .await
            .map_err(classify)?;
        let (lsn, wal, time): (String, String, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
            "SELECT lsn::text, pg_walfile_name(lsn), now() \
             FROM pg_create_restore_point($1) AS lsn",
        )
        .bind(label)
        .fetch_one(&mut *snapshot)
        .await
        .map_err(classify)?;
        *self.snapshot.lock().await = Some(snapshot);
        let backup_label = self
            .label
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?
            .clone();
        Ok(Mark {
            position: json!({
                "restore_point": label,
                "lsn": lsn,
                "wal_segment": wal,
                "time": time,
                "backup_label": backup_label,
            }),
            counts: BTreeMap::new(),
        })
    }

    async fn abandon(&self) {
        if let Some(snapshot) = self.snapshot.lock().await.take() {
            if let Err(e) = snapshot.rollback().await {
                tracing::warn!(error = %e, "could not roll back an abandoned backup's snapshot");
            }
        }
    }

    #[tracing::instrument(name = "backup.postgres.seal", skip_all)]
    async fn seal(&self, dir: &Path, mark: &mut Mark) -> Result<(String, u64)> {
        let snapshot = self.snapshot.lock().await.take();
        let mut snapshot =
            snapshot.ok_or_else(|| Error::Internal("sealed without a mark".into()))?;
        mark.counts = count_rows(&mut snapshot).await?;
        snapshot.commit().await.map_err(classify)?;
        let segment = mark.position["wal_segment"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.archived_through(&segment).await?;
        let info = self.info().await?;
        let label = mark.position["backup_label"].as_str().unwrap_or_default();
        let backup = info["backup"]
            .as_array()
            .and_then(|all| all.iter().find(|b| b["label"] == label))
            .cloned()
            .unwrap_or(Value::Null);
        let record =
            json!({ "stanza": self.config.stanza, "backup": backup, "position": mark.position });
        let path = dir.join("pgbackrest-backup.json");
        let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| Error::Unavailable(format!("writing {}: {e}", path.display())))?;
        let mut version = self.command("pgbackrest");
        version.arg("version");
        let version = run(version, "pgbackrest version")
            .await
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| "pgBackRest".into());
        let size = backup["info"]["repository"]["delta"].as_u64().unwrap_or(0);
        Ok((version, size))
    }

    #[tracing::instrument(name = "restore.postgres", skip_all)]
    async fn restore(&self, _dir: &Path, part: &StoreManifest) -> Result<()> {
        let point = part.position["restore_point"]
            .as_str()
            .ok_or_else(|| Error::Internal("the manifest names no restore point".into()))?;
        self.recover(part, &["--type=name", &format!("--target={point}")])
            .await
    }

    async fn counts(&self) -> Result<BTreeMap<String, u64>> {
        self.counts_now().await
    }

    /// pgBackRest archives the WAL itself (`archive_command`), continuously.
    async fn archive(&self, _archive: &Path, _since: &Value) -> Result<()> {
        Ok(())
    }

    /// Now: a transaction is committed after this moment (recovery to a time needs a
    /// commit record past it) and the WAL holding it is archived.
    async fn recoverable_until(&self, _archive: &Path) -> Result<Option<Timestamp>> {
        let until: Timestamp = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        // A transaction with an id writes a commit record, stamped after `until`.
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        let wal: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        self.archived_through(&wal).await?;
        Ok(Some(until))
    }

    #[tracing::instrument(name = "pitr.postgres", skip_all, fields(%target))]
    async fn restore_to(
        &self,
        _dir: &Path,
        part: &StoreManifest,
        _archive: &Path,
        target: Timestamp,
    ) -> Result<()> {
        let target = format!("--target={}", target.format("%Y-%m-%d %H:%M:%S%.6f+00"));
        self.recover(part, &["--type=time", &target]).await
    }
}

impl PgBackRest {
    /// Puts the feed's sequence and the followers' cursors back where they were before
    /// the restore, in one transaction.
    async fn keep_feed_position(
        &self,
        feed_head: i64,
        cursors: &[(String, Vec<u8>)],
    ) -> Result<()> {
        let (sources, tokens): (Vec<&str>, Vec<&[u8]>) = cursors
            .iter()
            .map(|(source, token)| (source.as_str(), token.as_slice()))
            .unzip();
        let mut tx = self.pool.begin().await.map_err(classify)?;
        sqlx::query("SELECT setval('feed_seq', GREATEST($1, (SELECT last_value FROM feed_seq)))")
            .bind(feed_head)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query(
            "INSERT INTO feed_cursor (source, resume_token) \
             SELECT * FROM UNNEST($1::text[], $2::bytea[]) \
             ON CONFLICT (source) DO UPDATE \
                SET resume_token = EXCLUDED.resume_token, updated_at = now()",
        )
        .bind(&sources)
        .bind(&tokens)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    /// Switches to a new WAL segment and waits until `segment` is archived.
    async fn archived_through(&self, segment: &str) -> Result<()> {
        sqlx::query("SELECT pg_switch_wal()")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        let deadline = tokio::time::Instant::now() + ARCHIVE_WAIT;
        loop {
            let archived: Option<String> =
                sqlx::query_scalar("SELECT last_archived_wal FROM pg_stat_archiver")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)?;
            if archived.as_deref().is_some_and(|a| a >= segment) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Unavailable(format!(
                    "WAL segment {segment} was not archived within {} s; is archive_command \
                     set to pgbackrest archive-push?",
                    ARCHIVE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the cluster, restores the base copy of `part` with WAL replayed to the
    /// recovery target in `target`, starts it again, and waits until it has promoted.
    async fn recover(&self, part: &StoreManifest, target: &[&str]) -> Result<()> {
        let label = part.position["backup_label"]
            .as_str()
            .ok_or_else(|| Error::Internal("the manifest names no pgBackRest backup".into()))?;
        // The feed's `seq` names a point in the feed for every client and for this
        // server's hub: it must not go back with the restore (the hub would skip every
        // new event until the sequence passed its position again).
        let feed_head: i64 = sqlx::query_scalar("SELECT last_value FROM feed_seq")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        // Nor may the followers' cursors: MongoDB's change stream goes on from where it is
        // (the catalog's own restore reaches the feed through it), and a follower whose
        // cursor went back would re-record what it already had.
        let cursors: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT source, resume_token FROM feed_cursor")
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
        run(
            self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"]),
            "pg_ctl stop",
        )
        .await?;
        let set = format!("--set={label}");
        // Along the backup's own timeline: after an earlier restore, the latest timeline
        // may have left the backup's history behind.
        let mut args = vec!["--delta", set.as_str(), "--target-timeline=current"];
        args.extend_from_slice(target);
        args.extend_from_slice(&["--target-action=promote", "restore"]);
        run(self.pgbackrest(&args), "pgbackrest restore").await?;
        let log = self.config.data_dir.join("log-after-restore.txt");
        let log = log.to_string_lossy().into_owned();
        run(
            self.pg_ctl(&["-w", "-t", "120", "-l", &log, "start"]),
            "pg_ctl start",
        )
        .await?;
        // The server accepts connections while it still replays WAL; it is the shop's
        // ledger again once it has promoted.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let recovering: std::result::Result<bool, _> =
                sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&self.pool)
                    .await;
            if let Ok(false) = recovering {
                return self.keep_feed_position(feed_head, &cursors).await;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Unavailable(
                    "PostgreSQL did not leave recovery within 120 s after the restore".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
