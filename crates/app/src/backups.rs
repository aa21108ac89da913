//! Wires backups: the repository and backup log under the backup directory, each store's
//! backup adapter, and what a restore must renew (the catalog cache, the search index).

use crate::backend::Backend;
use async_trait::async_trait;
use emporium_backup::FsRepository;
use emporium_domain::service::{BackupService, RestoreListener, SearchService, WriteGate};
use emporium_resilience::CachingCatalog;
use std::path::Path;
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

/// The backup service of `backend`, keeping backups and the backup log under `dir`.
pub fn service(backend: &Backend, dir: &Path, search: &SearchService) -> BackupService {
    let repository = Arc::new(FsRepository::new(dir));
    let mut service = BackupService::new(
        backend.backups.clone(),
        repository.clone(),
        repository,
        Arc::new(WriteGate::default()),
        backend.stores.clone(),
    )
    .with_listener(Arc::new(search.clone()));
    if let Some(cache) = &backend.cache {
        service = service.with_listener(Arc::new(ClearCache(cache.clone())));
    }
    service
}
