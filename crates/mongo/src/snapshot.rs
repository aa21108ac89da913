//! MongoDB's side of snapshots (ADR 0024): a copy of the server's data directory at the
//! consistent point.
//!
//! * **MongoDB** (`mongod`): MongoDB's documented procedure for a file-system copy of a
//!   running server: `fsync` with `lock: true` (every write flushed, further writes held),
//!   the `dbPath` copied, `fsyncUnlock`. It runs while the server's own writes are paused
//!   for the consistent point, so the lock holds back only writers from outside.
//! * **The stand-in used in tests** (SecantusDB, recognised by `buildInfo.secantusVersion`)
//!   refuses `fsync` with a lock. It has its own consistent file-level copy instead:
//!   `secantusAdmin.backupArchive`, a WiredTiger checkpoint and a backup cursor written out
//!   as a `.tar.gz` of the data directory, taken at the same moment.
//!
//! Either copy is the store's data directory as of the point: put back on a stopped server
//! (RUNBOOK.md, "Store lost: restore from a snapshot"), it starts as it was then, oplog
//! included.

use crate::backup::MongoBackup;
use async_trait::async_trait;
use emporium_domain::model::Mark;
use emporium_domain::ports::StoreSnapshot;
use emporium_domain::{Error, Result};
use mongodb::bson::{doc, Document};
use mongodb::Database;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Where a `mongod`'s data directory goes inside the snapshot's `mongodb` folder.
pub const SNAPSHOT_DATA: &str = "data";
/// The stand-in's archive of its data directory, inside the snapshot's `mongodb` folder.
pub const SNAPSHOT_ARCHIVE: &str = "data.tar.gz";

/// How this server's data directory is copied.
#[derive(Debug, Clone)]
enum Method {
    /// `fsyncLock`, copy `dbPath`, `fsyncUnlock`.
    LockAndCopy { db_path: PathBuf, version: String },
    /// The stand-in's own archive command.
    NativeArchive { version: String },
}

/// Snapshots of a MongoDB server that runs on this host.
pub struct MongoSnapshot {
    db: Database,
    /// The server's `dbPath`; asked of the server (`getCmdLineOpts`) when `None`.
    db_path: Option<PathBuf>,
    backup: MongoBackup,
}

fn driver(e: mongodb::error::Error) -> Error {
    crate::error::from_driver(e)
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("mongodb snapshot: {what} {}: {e}", path.display()))
}

impl MongoSnapshot {
    pub fn new(db: Database, db_path: Option<PathBuf>) -> Self {
        MongoSnapshot {
            backup: MongoBackup::new(db.clone()),
            db,
            db_path,
        }
    }

    async fn admin(&self, command: Document) -> Result<Document> {
        self.db
            .client()
            .database("admin")
            .run_command(command)
            .await
            .map_err(driver)
    }

    async fn method(&self) -> Result<Method> {
        let info = self.admin(doc! {"buildInfo": 1}).await?;
        if let Ok(version) = info.get_str("secantusVersion") {
            return Ok(Method::NativeArchive {
                version: format!("SecantusDB {version}"),
            });
        }
        let version = format!("MongoDB {}", info.get_str("version").unwrap_or("?"));
        let db_path = match &self.db_path {
            Some(path) => path.clone(),
            None => {
                let opts = self.admin(doc! {"getCmdLineOpts": 1}).await?;
                let path = opts
                    .get_document("parsed")
                    .and_then(|p| p.get_document("storage"))
                    .and_then(|s| s.get_str("dbPath"))
                    .map_err(|_| {
                        Error::Conflict(
                            "the MongoDB server does not say where its data directory is: set \
                             EMPORIUM_BACKUP_MONGODB_DATA"
                                .into(),
                        )
                    })?;
                PathBuf::from(path)
            }
        };
        Ok(Method::LockAndCopy { db_path, version })
    }
}

/// Copies `from` into `to`, every file, leaving out the server's lock file.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| io("creating", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io("listing", from, e))? {
        let entry = entry.map_err(|e| io("listing", from, e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "mongod.lock" {
            continue;
        }
        if entry
            .file_type()
            .map_err(|e| io("reading", &source, e))?
            .is_dir()
        {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| io("copying", &source, e))?;
        }
    }
    Ok(())
}

#[async_trait]
impl StoreSnapshot for MongoSnapshot {
    fn store(&self) -> &'static str {
        "mongodb"
    }

    async fn ready(&self) -> Result<()> {
        if let Method::LockAndCopy { db_path, .. } = self.method().await? {
            let _readable = tokio::fs::read_dir(&db_path).await.map_err(|e| {
                Error::Conflict(format!(
                    "a snapshot copies MongoDB's data directory, and {} cannot be read here \
                     ({e}): take snapshots on the database host, or snapshot its volume \
                     (deploy/README.md)",
                    db_path.display()
                ))
            })?;
        }
        Ok(())
    }

    async fn begin(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    #[tracing::instrument(name = "snapshot.mongodb.point", skip_all)]
    async fn point(&self, dir: &Path, label: &str) -> Result<Mark> {
        let method = self.method().await?;
        let at = self.backup.last_optime().await?;
        let counts = self.backup.counts_now().await?;
        let tool = match &method {
            Method::NativeArchive { version } => {
                let archive = dir.join(SNAPSHOT_ARCHIVE);
                self.admin(doc! {
                    "secantusAdmin.backupArchive": 1,
                    "outputPath": archive.to_string_lossy().into_owned(),
                })
                .await?;
                format!("{version} secantusAdmin.backupArchive")
            }
            Method::LockAndCopy { db_path, version } => {
                self.admin(doc! {"fsync": 1, "lock": true}).await?;
                let (from, to) = (db_path.clone(), dir.join(SNAPSHOT_DATA));
                let copied = tokio::task::spawn_blocking(move || copy_dir(&from, &to))
                    .await
                    .map_err(|e| Error::Internal(format!("mongodb snapshot task: {e}")));
                // Unlocked whatever the copy did.
                let unlocked = self.admin(doc! {"fsyncUnlock": 1}).await;
                copied??;
                unlocked?;
                format!("{version} fsyncLock, copy, fsyncUnlock")
            }
        };
        Ok(Mark {
            position: json!({
                "optime": {"t": at.time, "i": at.increment},
                "time": chrono::DateTime::from_timestamp(at.time as i64, 0),
                "label": label,
                "tool": tool,
            }),
            counts,
        })
    }

    async fn complete(&self, dir: &Path, mark: &mut Mark) -> Result<String> {
        let (archive, copy) = (dir.join(SNAPSHOT_ARCHIVE), dir.join(SNAPSHOT_DATA));
        if !archive.exists() && !copy.exists() {
            return Err(Error::Conflict(format!(
                "the MongoDB server wrote its copy on its own host, not in {}: take snapshots \
                 on the database host",
                dir.display()
            )));
        }
        let status = tokio::process::Command::new("sync")
            .arg("-f")
            .arg(dir)
            .status()
            .await
            .map_err(|e| io("syncing", dir, e))?;
        if !status.success() {
            return Err(io("syncing", dir, status));
        }
        Ok(mark.position["tool"].as_str().unwrap_or("?").to_owned())
    }
}
