//! Wires backups: the repository and backup log under the backup directory, each store's
//! backup adapter, and what a restore must renew (the catalog cache, the search index).

use crate::backend::Backend;
use crate::config::Settings;
use async_trait::async_trait;
use emporium_backup::FsRepository;
use emporium_domain::model::{BackupType, Mark, StoreManifest, Timestamp};
use emporium_domain::ports::StoreBackup;
use emporium_domain::service::{BackupService, RestoreListener, WriteGate};
use emporium_postgres::{PgBackRest, PgBackRestConfig};
use emporium_resilience::CachingCatalog;
use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

/// After a restore, the catalog cache holds products of a world that no longer exists.
struct ClearCache(Arc<CachingCatalog>);

#[async_trait]
impl RestoreListener for ClearCache {
    async fn restored(&self) -> emporium_domain::Result<()> {
        self.0.clear();
        Ok(())
    }
}

/// A store that cannot be backed up as configured: every backup and restore fails, saying
/// what is missing (never a backup that silently leaves a store out).
pub struct Unconfigured {
    pub store: &'static str,
    pub missing: &'static str,
}

impl Unconfigured {
    fn refuse<T>(&self) -> emporium_domain::Result<T> {
        Err(emporium_domain::Error::Unavailable(format!(
            "{} backups are not configured: {}",
            self.store, self.missing
        )))
    }
}

#[async_trait]
impl StoreBackup for Unconfigured {
    fn store(&self) -> &'static str {
        self.store
    }
    async fn base(&self, _: &Path, _: BackupType) -> emporium_domain::Result<()> {
        self.refuse()
    }
    async fn mark(&self, _: &str) -> emporium_domain::Result<Mark> {
        self.refuse()
    }
    async fn seal(&self, _: &Path, _: &mut Mark) -> emporium_domain::Result<(String, u64)> {
        self.refuse()
    }
    async fn restore(&self, _: &Path, _: &StoreManifest) -> emporium_domain::Result<()> {
        self.refuse()
    }
    async fn counts(&self) -> emporium_domain::Result<BTreeMap<String, u64>> {
        self.refuse()
    }
    async fn archive(&self, _: &Path, _: &serde_json::Value) -> emporium_domain::Result<()> {
        Ok(())
    }
    async fn recoverable_until(&self, _: &Path) -> emporium_domain::Result<Option<Timestamp>> {
        self.refuse()
    }
    async fn restore_to(
        &self,
        _: &Path,
        _: &StoreManifest,
        _: &Path,
        _: Timestamp,
    ) -> emporium_domain::Result<()> {
        self.refuse()
    }
}

/// The PostgreSQL side of backups the settings describe.
pub fn postgres_backup(
    ledger: &emporium_postgres::PgLedger,
    settings: &Settings,
) -> Arc<dyn StoreBackup> {
    match (&settings.backup_pgbackrest_stanza, &settings.backup_pg_data) {
        (Some(stanza), Some(data)) => Arc::new(PgBackRest::new(
            ledger.pool().clone(),
            PgBackRestConfig {
                stanza: stanza.clone(),
                config: settings
                    .backup_pgbackrest_config
                    .as_ref()
                    .map(PathBuf::from),
                data_dir: PathBuf::from(data),
                bindir: settings.backup_pg_bindir.as_ref().map(PathBuf::from),
                run_as: settings.backup_run_as.clone(),
            },
        )),
        _ => Arc::new(Unconfigured {
            store: "postgres",
            missing: "set EMPORIUM_BACKUP_PGBACKREST_STANZA and EMPORIUM_BACKUP_PG_DATA \
                      (scripts/dev-services.sh up --private sets up a cluster that has them)",
        }),
    }
}

/// The backup service of `backend`, keeping backups and the backup log under `dir`.
pub fn service(backend: &Backend, dir: &Path) -> BackupService {
    let repository = Arc::new(FsRepository::new(dir));
    let mut service = BackupService::new(
        backend.backups.clone(),
        repository.clone(),
        repository,
        Arc::new(WriteGate::default()),
        backend.stores.clone(),
    )
    .with_snapshots(backend.snapshots.clone());
    if let Some(cache) = &backend.cache {
        service = service.with_listener(Arc::new(ClearCache(cache.clone())));
    }
    service
}

/// Keeps each store's log archived for point-in-time recovery (ADR 0015), every `every`.
/// A failure is logged once until archiving works again.
pub async fn archive_forever(
    service: BackupService,
    every: std::time::Duration,
    shutdown: crate::supervisor::Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    let mut failing = false;
    while shutdown.wait(tick.tick()).await {
        match service.archive_logs().await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("log archiving works again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, "log archiving failed: point-in-time recovery cannot reach past this moment until it works again");
            }
            Err(_) => {}
        }
    }
}
