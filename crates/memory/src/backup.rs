//! Backup and restore of the memory set: a snapshot of its whole state, as JSON.
//!
//! The embedded default has no database tool to lean on, so its backup is the state
//! itself, copied under each adapter's lock at the consistent point (writes are paused
//! then, ADR 0015) and written to `snapshot.json` in the backup's directory.

use crate::catalog::CatalogSnapshot;
use crate::ledger::LedgerSnapshot;
use crate::{lock, MemoryCatalog, MemoryLedger};
use async_trait::async_trait;
use emporium_domain::model::{now, BackupType, Mark, StoreManifest, Timestamp};
use emporium_domain::ports::{StoreBackup, StoreSnapshot};
use emporium_domain::{Error, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The file a memory backup writes.
pub const SNAPSHOT_FILE: &str = "snapshot.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    catalog: Option<CatalogSnapshot>,
    ledger: Option<LedgerSnapshot>,
}

impl Snapshot {
    fn counts(&self) -> BTreeMap<String, u64> {
        let catalog = self.catalog.iter().flat_map(CatalogSnapshot::counts);
        let ledger = self.ledger.iter().flat_map(LedgerSnapshot::counts);
        catalog
            .chain(ledger)
            .map(|(name, n)| (name.to_owned(), n))
            .collect()
    }
}

/// The memory adapters' side of backups (store key `memory`): whichever of the catalog and
/// the ledger run in memory.
pub struct MemoryBackup {
    catalog: Option<Arc<MemoryCatalog>>,
    ledger: Option<Arc<MemoryLedger>>,
    /// The snapshot taken at the last mark, until `seal` writes it.
    taken: Mutex<Option<Snapshot>>,
}

impl MemoryBackup {
    pub fn new(catalog: Option<Arc<MemoryCatalog>>, ledger: Option<Arc<MemoryLedger>>) -> Self {
        MemoryBackup {
            catalog,
            ledger,
            taken: Mutex::new(None),
        }
    }

    fn take(&self) -> Snapshot {
        Snapshot {
            catalog: self.catalog.as_ref().map(|c| c.snapshot()),
            ledger: self.ledger.as_ref().map(|l| l.snapshot()),
        }
    }
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("backup storage: {what} {}: {e}", path.display()))
}

#[async_trait]
impl StoreBackup for MemoryBackup {
    fn store(&self) -> &'static str {
        "memory"
    }

    async fn base(&self, _dir: &Path, _kind: BackupType) -> Result<()> {
        Ok(())
    }

    async fn mark(&self, label: &str) -> Result<Mark> {
        let snapshot = self.take();
        let counts = snapshot.counts();
        *lock(&self.taken) = Some(snapshot);
        Ok(Mark {
            position: json!({ "snapshot": label, "at": now() }),
            counts,
        })
    }

    async fn seal(&self, dir: &Path, _mark: &mut Mark) -> Result<(String, u64)> {
        let snapshot = lock(&self.taken)
            .take()
            .ok_or_else(|| Error::Internal("memory backup sealed without a mark".into()))?;
        let path = dir.join(SNAPSHOT_FILE);
        let bytes = serde_json::to_vec(&snapshot)
            .map_err(|e| Error::Internal(format!("memory snapshot: {e}")))?;
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| io("writing", &path, e))?;
        Ok((format!("emporium-memory {}", env!("CARGO_PKG_VERSION")), 0))
    }

    async fn restore(&self, dir: &Path, _part: &StoreManifest) -> Result<()> {
        let path = dir.join(SNAPSHOT_FILE);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| io("reading", &path, e))?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("memory snapshot {}: {e}", path.display())))?;
        if let (Some(catalog), Some(saved)) = (&self.catalog, snapshot.catalog) {
            catalog.restore(saved);
        }
        if let (Some(ledger), Some(saved)) = (&self.ledger, snapshot.ledger) {
            ledger.restore(saved);
        }
        Ok(())
    }

    async fn counts(&self) -> Result<BTreeMap<String, u64>> {
        Ok(self.take().counts())
    }

    async fn archive(&self, _archive: &Path, _since: &serde_json::Value) -> Result<()> {
        Ok(())
    }

    /// The memory set keeps no log: it goes back to whole backups only.
    async fn recoverable_until(&self, _archive: &Path) -> Result<Option<Timestamp>> {
        Ok(None)
    }

    async fn restore_to(
        &self,
        _dir: &Path,
        _part: &StoreManifest,
        _archive: &Path,
        _target: Timestamp,
    ) -> Result<()> {
        Err(Error::Internal(
            "the memory set keeps no log to recover a point in time from".into(),
        ))
    }
}

/// The memory set's data directory is its state: a snapshot of it is the same file a
/// backup writes, taken at the consistent point.
#[async_trait]
impl StoreSnapshot for MemoryBackup {
    fn store(&self) -> &'static str {
        "memory"
    }

    async fn ready(&self) -> Result<()> {
        Ok(())
    }

    async fn begin(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    async fn point(&self, _dir: &Path, label: &str) -> Result<Mark> {
        StoreBackup::mark(self, label).await
    }

    async fn complete(&self, dir: &Path, mark: &mut Mark) -> Result<String> {
        Ok(StoreBackup::seal(self, dir, mark).await?.0)
    }
}
