//! PostgreSQL's side of snapshots (ADR 0024): a copy of the cluster's data directory under
//! a non-exclusive backup label, the way `pg_basebackup` takes one, done here so that the
//! copy ends on the consistent point the other store's copy ends on.
//!
//! * **begin** (writes flowing): a session of its own (a backup belongs to the session
//!   that starts it) creates a temporary physical replication slot, so that no checkpoint
//!   during the copy recycles WAL that recovery will need, calls `pg_backup_start`, and
//!   copies every file of the data directory except those PostgreSQL's documentation lists
//!   as safe to leave out (the contents of `pg_wal`, `pg_replslot`, `pg_stat_tmp`, ...,
//!   `postmaster.pid`). Files change under the copy; replaying the WAL repairs them.
//! * **point** (writes paused): `pg_backup_stop`, whose LSN is where the copy will recover
//!   to; its `backup_label` goes into the copy.
//! * **complete**: the WAL segments from the backup's start to its stop are copied into the
//!   copy's `pg_wal`, and everything is flushed to disk.
//!
//! The copy starts as it is, on a stopped cluster's data directory: PostgreSQL replays its
//! own `pg_wal` up to the stop LSN (RUNBOOK.md, "Store lost: restore from a snapshot"). The
//! data directory must be readable from this process: the server and the app share a host.

use crate::backup::COUNTED_TABLES;
use crate::error::classify;
use async_trait::async_trait;
use emporium_domain::model::{now, Mark};
use emporium_domain::ports::StoreSnapshot;
use emporium_domain::{Error, Result};
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the copy of the data directory goes inside the snapshot's `postgres` folder.
pub const SNAPSHOT_DATA: &str = "data";

/// Top-level folders whose contents a copy of a running cluster leaves out (the folder
/// itself is kept, empty): PostgreSQL's documentation, "Making a Base Backup Using the Low
/// Level API".
const EMPTIED: [&str; 8] = [
    "pg_wal",
    "pg_replslot",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_stat_tmp",
    "pg_subtrans",
];

/// Top-level files a copy leaves out.
const LEFT_OUT: [&str; 4] = [
    "postmaster.pid",
    "postmaster.opts",
    "backup_label",
    "tablespace_map",
];

/// The backup under way: its session, from `begin` to `point`.
struct Session {
    conn: PgConnection,
    data_dir: PathBuf,
    start_lsn: String,
    /// Set by `point`: the stop LSN.
    stop_lsn: Option<String>,
    /// A transaction whose snapshot counts rows as of the point.
    counting: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

/// Snapshots of a cluster whose data directory this process can read.
pub struct PgSnapshot {
    pool: PgPool,
    /// The data directory; the server's `data_directory` setting when `None`.
    data_dir: Option<PathBuf>,
    session: tokio::sync::Mutex<Option<Session>>,
}

impl PgSnapshot {
    pub fn new(pool: PgPool, data_dir: Option<PathBuf>) -> Self {
        PgSnapshot {
            pool,
            data_dir,
            session: tokio::sync::Mutex::new(None),
        }
    }

    async fn data_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(PathBuf::from(dir))
    }
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("postgres snapshot: {what} {}: {e}", path.display()))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("postgres snapshot task: {e}")))?
}

/// Copies the data directory `from` into `to`, leaving out what a running cluster's copy
/// must not hold. A file that disappears during the copy was dropped by the server; the
/// WAL replay knows it.
fn copy_data_dir(from: &Path, to: &Path) -> Result<u64> {
    std::fs::create_dir_all(to).map_err(|e| io("creating", to, e))?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from).map_err(|e| io("listing", from, e))? {
        let entry = entry.map_err(|e| io("listing", from, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().map_err(|e| io("reading", &source, e))?;
        if EMPTIED.contains(&name.as_str()) {
            std::fs::create_dir_all(&target).map_err(|e| io("creating", &target, e))?;
            if name == "pg_wal" {
                let status = target.join("archive_status");
                std::fs::create_dir_all(&status).map_err(|e| io("creating", &status, e))?;
            }
        } else if LEFT_OUT.contains(&name.as_str()) {
            continue;
        } else if name == "pg_tblspc" {
            if std::fs::read_dir(&source)
                .map_err(|e| io("listing", &source, e))?
                .next()
                .is_some()
            {
                return Err(Error::Conflict(
                    "the cluster has tablespaces outside its data directory; take volume \
                     snapshots of each instead (deploy/README.md)"
                        .into(),
                ));
            }
            std::fs::create_dir_all(&target).map_err(|e| io("creating", &target, e))?;
        } else {
            bytes += copy_tree(&source, &target, kind)?;
        }
    }
    Ok(bytes)
}

fn copy_tree(source: &Path, target: &Path, kind: std::fs::FileType) -> Result<u64> {
    let name = source.file_name().unwrap_or_default().to_string_lossy();
    if name.starts_with("pgsql_tmp") || name == "pg_internal.init" {
        return Ok(0);
    }
    if kind.is_dir() {
        std::fs::create_dir_all(target).map_err(|e| io("creating", target, e))?;
        let mut bytes = 0;
        let entries = match std::fs::read_dir(source) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io("listing", source, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io("listing", source, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| io("reading", &entry.path(), e))?;
            bytes += copy_tree(&entry.path(), &target.join(entry.file_name()), kind)?;
        }
        Ok(bytes)
    } else {
        match std::fs::copy(source, target) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io("copying", source, e)),
        }
    }
}

/// Flushes everything written under `dir` to disk (`sync -f`: one `syncfs` of its file
/// system, rather than an fsync per file).
async fn sync_tree(dir: &Path) -> Result<()> {
    let status = tokio::process::Command::new("sync")
        .arg("-f")
        .arg(dir)
        .status()
        .await
        .map_err(|e| io("syncing", dir, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(io("syncing", dir, status))
    }
}

#[async_trait]
impl StoreSnapshot for PgSnapshot {
    fn store(&self) -> &'static str {
        "postgres"
    }

    async fn ready(&self) -> Result<()> {
        let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        if version < 150000 {
            return Err(Error::Conflict(
                "snapshots need PostgreSQL 15 or later (pg_backup_start)".into(),
            ));
        }
        let dir = self.data_dir().await?;
        let marker = dir.join("PG_VERSION");
        tokio::fs::read(&marker).await.map_err(|e| {
            Error::Conflict(format!(
                "a snapshot copies PostgreSQL's data directory, and {} cannot be read here \
                 ({e}): take snapshots on the database host, or snapshot its volume \
                 (deploy/README.md)",
                dir.display()
            ))
        })?;
        Ok(())
    }

    async fn begin(&self, dir: &Path) -> Result<()> {
        let data_dir = self.data_dir().await?;
        let mut conn = self.pool.acquire().await.map_err(classify)?.detach();
        // Holds the WAL from here on until the session ends, whatever checkpoints run.
        sqlx::query("SELECT pg_create_physical_replication_slot($1, true, true)")
            .bind(format!("emporium_snapshot_{}", std::process::id()))
            .execute(&mut conn)
            .await
            .map_err(classify)?;
        let label = format!("emporium snapshot {}", now());
        let start_lsn: String = sqlx::query_scalar("SELECT pg_backup_start($1, true)::text")
            .bind(&label)
            .fetch_one(&mut conn)
            .await
            .map_err(classify)?;
        *self.session.lock().await = Some(Session {
            conn,
            data_dir: data_dir.clone(),
            start_lsn,
            stop_lsn: None,
            counting: None,
        });
        let target = dir.join(SNAPSHOT_DATA);
        let copied = blocking(move || copy_data_dir(&data_dir, &target)).await?;
        tracing::info!(bytes = copied, "postgres snapshot: data directory copied");
        Ok(())
    }

    async fn point(&self, dir: &Path, label: &str) -> Result<Mark> {
        let mut guard = self.session.lock().await;
        let session = guard
            .as_mut()
            .ok_or_else(|| Error::Internal("postgres snapshot: point without begin".into()))?;
        let mut counting = self.pool.begin().await.map_err(classify)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *counting)
            .await
            .map_err(classify)?;
        sqlx::query("SELECT 1")
            .execute(&mut *counting)
            .await
            .map_err(classify)?;
        let (stop_lsn, labelfile, spcmapfile): (String, String, String) = sqlx::query_as(
            "SELECT lsn::text, labelfile, coalesce(spcmapfile, '') FROM pg_backup_stop(false)",
        )
        .fetch_one(&mut session.conn)
        .await
        .map_err(classify)?;
        let data = dir.join(SNAPSHOT_DATA);
        let label_path = data.join("backup_label");
        tokio::fs::write(&label_path, labelfile)
            .await
            .map_err(|e| io("writing", &label_path, e))?;
        if !spcmapfile.is_empty() {
            let map = data.join("tablespace_map");
            tokio::fs::write(&map, spcmapfile)
                .await
                .map_err(|e| io("writing", &map, e))?;
        }
        session.stop_lsn = Some(stop_lsn.clone());
        session.counting = Some(counting);
        Ok(Mark {
            position: json!({
                "start_lsn": session.start_lsn,
                "lsn": stop_lsn,
                "time": now(),
                "label": label,
                "data_directory": session.data_dir,
            }),
            counts: BTreeMap::new(),
        })
    }

    async fn complete(&self, dir: &Path, mark: &mut Mark) -> Result<String> {
        let mut session =
            self.session.lock().await.take().ok_or_else(|| {
                Error::Internal("postgres snapshot: complete without begin".into())
            })?;
        let stop_lsn = session
            .stop_lsn
            .clone()
            .ok_or_else(|| Error::Internal("postgres snapshot: complete without point".into()))?;
        let (first, last): (String, String) =
            sqlx::query_as("SELECT pg_walfile_name($1::pg_lsn), pg_walfile_name($2::pg_lsn)")
                .bind(&session.start_lsn)
                .bind(&stop_lsn)
                .fetch_one(&mut session.conn)
                .await
                .map_err(classify)?;
        let (wal, target) = (
            session.data_dir.join("pg_wal"),
            dir.join(SNAPSHOT_DATA).join("pg_wal"),
        );
        let wanted = (first.clone(), last.clone());
        let copied = blocking(move || {
            let mut copied = Vec::new();
            for entry in std::fs::read_dir(&wal).map_err(|e| io("listing", &wal, e))? {
                let entry = entry.map_err(|e| io("listing", &wal, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let segment = name.len() == 24 && name.chars().all(|c| c.is_ascii_hexdigit());
                let in_range = segment
                    && name[..8] == wanted.0[..8]
                    && name.as_str() >= wanted.0.as_str()
                    && name.as_str() <= wanted.1.as_str();
                if in_range || name.ends_with(".history") {
                    std::fs::copy(entry.path(), target.join(&name))
                        .map_err(|e| io("copying", &entry.path(), e))?;
                    copied.push(name);
                }
            }
            Ok(copied)
        })
        .await?;
        for needed in [&first, &last] {
            if !copied.contains(needed) {
                return Err(Error::Unavailable(format!(
                    "postgres snapshot: WAL segment {needed} was not in pg_wal to copy"
                )));
            }
        }
        let mut counting = session
            .counting
            .take()
            .ok_or_else(|| Error::Internal("postgres snapshot: no counting snapshot".into()))?;
        for table in COUNTED_TABLES {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *counting)
                .await
                .map_err(classify)?;
            mark.counts.insert(table.to_owned(), n as u64);
        }
        counting.rollback().await.map_err(classify)?;
        let version: String = sqlx::query_scalar("SELECT current_setting('server_version')")
            .fetch_one(&mut session.conn)
            .await
            .map_err(classify)?;
        // Ends the session, and with it the temporary slot.
        let _ = session.conn.close().await;
        sync_tree(dir).await?;
        Ok(format!(
            "pg_backup_start/pg_backup_stop (PostgreSQL {version}), {} WAL segments",
            copied.len()
        ))
    }

    async fn abandon(&self) {
        if let Some(session) = self.session.lock().await.take() {
            // Closing the session aborts its backup and drops its temporary slot.
            let _ = session.conn.close().await;
        }
    }
}
