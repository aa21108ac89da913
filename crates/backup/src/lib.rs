//! # The backup repository, on a filesystem
//!
//! One directory per backup, one subdirectory per store, and a manifest that lists every
//! file with its size and SHA-256:
//!
//! ```text
//! <root>/backups/<backup id>/manifest.json
//! <root>/backups/<backup id>/mongodb/products.bson ...
//! <root>/backups/<backup id>/memory/snapshot.json
//! <root>/jobs/<job id>.json          the backup log, one file per job
//! ```
//!
//! The backup log lives here, not in either database, so a restore or a PITR, which roll
//! the databases back, never roll back the record of themselves (ADR 0015). Every file is
//! written to a temporary name and renamed into place, so a crash never leaves half a
//! manifest or half a log entry.

use async_trait::async_trait;
use emporium_domain::model::{BackupFile, Job, JobId, Manifest, Page, PageRequest};
use emporium_domain::ports::{BackupRepository, JobLog};
use emporium_domain::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

const MANIFEST: &str = "manifest.json";

/// Backups and the backup log under one root directory.
#[derive(Debug, Clone)]
pub struct FsRepository {
    root: PathBuf,
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("backup storage: {what} {}: {e}", path.display()))
}

impl FsRepository {
    /// A repository under `root`; directories are created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> FsRepository {
        FsRepository { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn backup_dir(&self, id: JobId) -> PathBuf {
        self.root.join("backups").join(id.to_string())
    }

    fn snapshot_root(&self, id: JobId) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    fn job_file(&self, id: JobId) -> PathBuf {
        self.root.join("jobs").join(format!("{id}.json"))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
async fn write_atomically(path: &Path, bytes: Vec<u8>) -> Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io("creating", parent, e))?;
    }
    let tmp = path.with_extension("tmp");
    write_synced(&tmp, &bytes)
        .await
        .map_err(|e| io("writing", &tmp, e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| io("renaming", &tmp, e))?;
    // The rename itself is durable once the folder is.
    if let Some(parent) = path.parent() {
        sync_dir(parent)
            .await
            .map_err(|e| io("syncing", parent, e))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` and waits until they are on disk: a manifest or job record
/// renamed into place must not turn out empty after a power cut.
async fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(path).await?;
    file.write_all(bytes).await?;
    file.sync_all().await
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

async fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal(format!("{} is not valid: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", path, e)),
    }
}

/// The entries of `dir`; `None` when it does not exist yet.
async fn read_dir(dir: &Path) -> Result<Option<tokio::fs::ReadDir>> {
    match tokio::fs::read_dir(dir).await {
        Ok(entries) => Ok(Some(entries)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("listing", dir, e)),
    }
}

fn sha256_of(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

/// Every regular file under `dir`, with paths relative to `base`, sorted.
fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(base, &path, out)?;
        } else {
            out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("backup storage task: {e}")))?
}

/// Every file under `base/store`, with its path relative to `base`, size and SHA-256.
async fn checksums(base: PathBuf, store: &str) -> Result<Vec<BackupFile>> {
    let dir = base.join(store);
    blocking(move || {
        let mut paths = Vec::new();
        walk(&base, &dir, &mut paths).map_err(|e| io("listing", &dir, e))?;
        paths.sort();
        paths
            .into_iter()
            .map(|relative| {
                let path = base.join(&relative);
                let (size, sha256) = sha256_of(&path).map_err(|e| io("reading", &path, e))?;
                Ok(BackupFile {
                    path: relative.to_string_lossy().into_owned(),
                    size,
                    sha256,
                })
            })
            .collect()
    })
    .await
}

#[async_trait]
impl BackupRepository for FsRepository {
    async fn store_dir(&self, id: JobId, store: &str) -> Result<PathBuf> {
        let dir = self.backup_dir(id).join(store);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("creating", &dir, e))?;
        Ok(dir)
    }

    async fn files(&self, id: JobId, store: &str) -> Result<Vec<BackupFile>> {
        checksums(self.backup_dir(id), store).await
    }

    async fn snapshot_dir(&self, id: JobId, store: &str) -> Result<PathBuf> {
        let dir = self.snapshot_root(id).join(store);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("creating", &dir, e))?;
        Ok(dir)
    }

    async fn snapshot_files(&self, id: JobId, store: &str) -> Result<Vec<BackupFile>> {
        checksums(self.snapshot_root(id), store).await
    }

    async fn save_snapshot_manifest(&self, manifest: &Manifest) -> Result<()> {
        let path = self.snapshot_root(manifest.id).join(MANIFEST);
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
        write_atomically(&path, bytes).await
    }

    async fn save_manifest(&self, manifest: &Manifest) -> Result<()> {
        let path = self.backup_dir(manifest.id).join(MANIFEST);
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
        write_atomically(&path, bytes).await
    }

    async fn manifest(&self, id: JobId) -> Result<Option<Manifest>> {
        read_json(&self.backup_dir(id).join(MANIFEST)).await
    }

    async fn latest(&self) -> Result<Option<Manifest>> {
        Ok(self.manifests().await?.pop())
    }

    async fn manifests(&self) -> Result<Vec<Manifest>> {
        let dir = self.root.join("backups");
        let Some(mut entries) = read_dir(&dir).await? else {
            return Ok(Vec::new());
        };
        let mut manifests = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io("listing", &dir, e))?
        {
            let Ok(id) = entry.file_name().to_string_lossy().parse::<JobId>() else {
                continue;
            };
            // One unreadable manifest (a backup cut short by a crash, a damaged disk)
            // takes that backup out of the list, not every listing with it.
            match self.manifest(id).await {
                Ok(Some(manifest)) => manifests.push(manifest),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(backup = %id, error = %e, "skipping an unreadable backup manifest")
                }
            }
        }
        manifests.sort_by_key(|m| (m.point, m.id));
        Ok(manifests)
    }

    async fn archive_dir(&self, store: &str) -> Result<PathBuf> {
        let dir = self.root.join("archive").join(store);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("creating", &dir, e))?;
        Ok(dir)
    }

    async fn damaged(&self, manifest: &Manifest) -> Result<Vec<String>> {
        let base = self.backup_dir(manifest.id);
        let files: Vec<BackupFile> = manifest
            .stores
            .values()
            .flat_map(|s| s.files.clone())
            .collect();
        blocking(move || {
            Ok(files
                .into_iter()
                .filter(|file| {
                    sha256_of(&base.join(&file.path))
                        .map(|(size, sha256)| size != file.size || sha256 != file.sha256)
                        .unwrap_or(true)
                })
                .map(|file| file.path)
                .collect())
        })
        .await
    }
}

#[async_trait]
impl JobLog for FsRepository {
    async fn save(&self, job: &Job) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(job).map_err(|e| Error::Internal(format!("job: {e}")))?;
        write_atomically(&self.job_file(job.id), bytes).await
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>> {
        read_json(&self.job_file(id)).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Job>> {
        let dir = self.root.join("jobs");
        let Some(mut entries) = read_dir(&dir).await? else {
            return Ok(PageRequest::slice(&page, &[]));
        };
        let mut jobs = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io("listing", &dir, e))?
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                match read_json::<Job>(&path).await {
                    Ok(Some(job)) => jobs.push(job),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "skipping an unreadable job record"),
                }
            }
        }
        jobs.sort_by_key(|job| std::cmp::Reverse((job.started_at, job.id)));
        Ok(page.slice(&jobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_domain::model::{BackupType, JobKind};
    use emporium_domain::ports::{BackupRepository, JobLog};

    fn temp_root() -> PathBuf {
        std::env::temp_dir().join(format!("emporium-repository-{}", JobId::new()))
    }

    /// A backup or job whose file cannot be read drops out of the listings; the others
    /// stay listed (an operator can still restore from them).
    #[tokio::test]
    async fn one_unreadable_file_does_not_hide_the_rest() {
        let root = temp_root();
        let repository = FsRepository::new(&root);
        let job = Job::start(JobKind::Backup, None, serde_json::json!({}));
        repository.save(&job).await.unwrap();
        let manifest = Manifest {
            id: job.id,
            backup_type: BackupType::Full,
            started_at: job.started_at,
            point: job.started_at,
            duration_ms: 1,
            stores: Default::default(),
        };
        repository.save_manifest(&manifest).await.unwrap();

        let broken = JobId::new();
        let dir = root.join("backups").join(broken.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("manifest.json"), b"{ cut short").unwrap();
        std::fs::write(root.join("jobs").join(format!("{broken}.json")), b"").unwrap();

        let manifests = repository.manifests().await.unwrap();
        assert_eq!(manifests.iter().map(|m| m.id).collect::<Vec<_>>(), [job.id]);
        let jobs = repository
            .list(PageRequest {
                limit: 10,
                offset: 0,
            })
            .await
            .unwrap();
        assert_eq!(
            jobs.items.iter().map(|j| j.id).collect::<Vec<_>>(),
            [job.id]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
